import { spawn } from 'node:child_process';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait-for.ts';

const root = path.join(import.meta.dirname, '../..');
const base = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Issue 15: a bench that dies mid-send must not leave a worker claiming rows against a gone sink. */
describe('the delivery bench', () => {
  const leftovers: { database?: string; prefix?: string; pids: number[] } = { pids: [] };
  afterAll(async () => {
    for (const pid of leftovers.pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
    if (leftovers.database) {
      const admin = new pg.Client({ connectionString: base });
      await admin.connect();
      await admin.query(`drop database if exists ${pg.escapeIdentifier(leftovers.database)} with (force)`);
      await admin.end();
    }
    if (leftovers.prefix) {
      const redis = new Redis(redisUrl);
      const keys = await redis.keys(`${leftovers.prefix}:*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    }
  });

  it('leaves no worker or sink behind when it is killed with SIGKILL mid-send', async () => {
    const bench = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--subscribers', '20000', '--ceiling-messages', '200', '--workers', '2'], {
      cwd: root,
      env: { ...process.env, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    bench.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<void>((resolve) => bench.once('exit', () => resolve()));
    try {
      await waitFor(() => /^planning: /m.test(stderr) || bench.exitCode !== null, { timeoutMs: 180_000, what: 'the bench to plan its send' });
      expect(bench.exitCode, stderr).toBeNull();
      leftovers.database = /^database (\S+),/m.exec(stderr)?.[1];
      leftovers.prefix = /queue prefix (\S+)$/m.exec(stderr)?.[1];
      const sinkPid = Number(/^sink started \(pid (\d+)\)/m.exec(stderr)?.[1]);
      const workerPids = [...stderr.matchAll(/^worker \d+ started \(pid (\d+)\)/gm)].map((m) => Number(m[1]));
      leftovers.pids.push(sinkPid, ...workerPids);
      expect(workerPids).toHaveLength(2);
      expect([sinkPid, ...workerPids].every(alive)).toBe(true);

      bench.kill('SIGKILL');
      await exited;
      // Each child notices its parent's IPC channel close and stops by itself.
      await waitFor(() => ![sinkPid, ...workerPids].some(alive), { timeoutMs: 60_000, what: 'the sink and both workers to exit' });
    } finally {
      if (bench.exitCode === null && bench.signalCode === null) bench.kill('SIGKILL');
    }
  }, 300_000);
});
