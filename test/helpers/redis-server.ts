import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { Redis } from 'ioredis';
import { waitFor } from './wait-for.ts';

/** A port free right now (the OS picks it; we release it for the caller to bind). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface PrivateRedis {
  port: number;
  url: string;
  /** Starts redis-server (again) on the same port and waits until it answers PING. */
  start(): Promise<void>;
  /** Stops the process and waits for its exit. */
  stop(): Promise<void>;
}

/**
 * A redis-server of the test's own, on a free port, without persistence: a test may stop and
 * restart it without touching the Redis every other test shares.
 */
export async function privateRedis(extraArgs: string[] = []): Promise<PrivateRedis> {
  const port = await freePort();
  // Every process this handle started, until it exited: stop() ends them all, so a start() while
  // one still runs (whose own redis-server could not bind and exited) never orphans the first.
  const live = new Map<ChildProcess, Promise<void>>();
  const isRunning = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;
  const handle: PrivateRedis = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async start() {
      if (![...live.keys()].some(isRunning)) {
        const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extraArgs], { stdio: 'ignore' });
        live.set(child, new Promise((resolve) => child.once('exit', () => {
          live.delete(child);
          started.delete(child);
          resolve();
        })));
        started.add(child);
      }
      await waitFor(
        async () => {
          const probe = new Redis(handle.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
          probe.on('error', () => {});
          try {
            await probe.connect();
            return (await probe.ping()) === 'PONG';
          } catch {
            return false;
          } finally {
            probe.disconnect();
          }
        },
        { what: `redis-server on port ${port}`, timeoutMs: 10_000 },
      );
    },
    async stop() {
      const exits = [...live.entries()].map(([child, exited]) => {
        if (isRunning(child)) child.kill('SIGTERM');
        return exited;
      });
      await Promise.all(exits);
    },
  };
  await handle.start();
  return handle;
}

const started = new Set<ChildProcess>();
// Belt and braces: a test file's process never exits leaving a redis-server of its own behind.
process.once('exit', () => {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});
