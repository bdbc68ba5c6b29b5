/**
 * `paperboy worker` as a child of the delivery bench (forked with an IPC channel). It is the real
 * worker role; the only difference is that it stops when the bench goes away, however the bench
 * ended (an exception, Ctrl-C, kill -9): a worker left on its own would keep claiming rows
 * against a sink that is gone.
 */
import { main } from '../src/cli.ts';

if (!process.send) {
  console.error('bench/worker-process.ts is started by the delivery bench (fork with IPC)');
  process.exit(2);
}
process.on('disconnect', () => {
  // The worker's own SIGTERM handling drains in-flight sends; if that hangs, leave anyway.
  process.kill(process.pid, 'SIGTERM');
  setTimeout(() => process.exit(1), 30_000);
});
// The bench may have gone already, before this listener existed.
if (!process.connected) process.exit(0);
await main(['worker']);
