/**
 * `bench/smtp-sink.ts` as a child process of the bench (forked with an IPC channel): answers
 * `stats`, `reset`, `outage` and `exit`, and exits by itself when the bench goes away, so a
 * crashed bench never leaves its sink behind.
 */
import { startBenchSink } from './smtp-sink.ts';

if (!process.send) {
  console.error('bench/sink-process.ts is started by the delivery bench (fork with IPC)');
  process.exit(2);
}
// The bench died (or closed the channel): nothing is left to report to.
process.on('disconnect', () => process.exit(0));

const sink = await startBenchSink();
const reply = (message: Record<string, unknown>) => {
  if (process.connected) process.send!(message);
};
reply({ type: 'listening', port: sink.port, pid: process.pid });

process.on('message', (message: { type: string; ms?: number }) => {
  if (message.type === 'stats') reply({ type: 'stats', ...sink.stats() });
  else if (message.type === 'reset') (sink.reset(), reply({ type: 'reset' }));
  else if (message.type === 'outage') {
    reply({ type: 'outage' });
    void sink.outage(message.ms ?? 60_000).then(() => reply({ type: 'outage-ended' }));
  } else if (message.type === 'exit') {
    setTimeout(() => process.exit(0), 2_000).unref();
    void sink.close().then(() => process.exit(0));
  }
});
