import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort } from './redis-server.ts';
import { waitFor } from './wait-for.ts';

export interface LocalRedisCluster {
  ports: number[];
  /** A URL of one node: what REDIS_URL names with REDIS_CLUSTER=true. */
  url: string;
  stop(): Promise<void>;
}

/**
 * A real Redis Cluster of `masters` nodes on free ports (redis-server --cluster-enabled yes,
 * joined with redis-cli --cluster create), no replicas and nothing kept after stop().
 */
export async function startRedisCluster(masters = 3): Promise<LocalRedisCluster> {
  const dir = mkdtempSync(path.join(tmpdir(), 'paperboy-cluster-'));
  const ports: number[] = [];
  for (let i = 0; i < masters; i++) ports.push(await freePort());
  const children: ChildProcess[] = ports.map((port) =>
    spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--dir', dir, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' }),
  );
  const exited = children.map((child) => new Promise<void>((resolve) => child.once('exit', () => resolve())));
  const stop = async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await Promise.all(exited);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const ask = async (port: number, ...command: string[]) => {
      const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      client.on('error', () => {});
      try {
        await client.connect();
        return String(await client.call(command[0]!, ...command.slice(1)));
      } catch {
        return '';
      } finally {
        client.disconnect();
      }
    };
    for (const port of ports) await waitFor(async () => (await ask(port, 'PING')) === 'PONG', { what: `redis-server on ${port}`, timeoutMs: 10_000 });
    await promisify(execFile)('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes']);
    for (const port of ports) {
      await waitFor(async () => (await ask(port, 'CLUSTER', 'INFO')).includes('cluster_state:ok'), { what: `cluster state ok on ${port}`, timeoutMs: 20_000 });
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { ports, url: `redis://127.0.0.1:${ports[0]}`, stop };
}
