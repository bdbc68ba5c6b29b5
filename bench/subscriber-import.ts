/**
 * `npm run bench -- subscribers [N]`: imports a CSV of N (default 100,000) addresses through
 * `paperboy subscribers import` as an operator runs it (a child process), into a fresh database,
 * once with double opt-in (queues N confirmation jobs) and once more with the same file (which
 * must change nothing), then exports the list. Prints wall-clock times and rows/s.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { createTestDatabase } from '../test/helpers/db.ts';

const run = promisify(execFile);
const n = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 100_000);
const cli = path.join(import.meta.dirname, '../bin/paperboy.js');
const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

const testDb = await createTestDatabase();
const dir = await mkdtemp(path.join(os.tmpdir(), 'paperboy-import-bench-'));
const prefix = `pbbench-${randomBytes(4).toString('hex')}`;
try {
  const file = path.join(dir, 'people.csv');
  const lines = ['email,topics,time_zone'];
  for (let i = 0; i < n; i++) lines.push(`reader${i}.${(i * 7919) % 1000}@list${i % 97}.example.org,${i % 3 === 0 ? '"diffusion, robotics"' : ''},${i % 5 === 0 ? 'Europe/Berlin' : ''}`);
  await writeFile(file, `${lines.join('\r\n')}\r\n`);
  const bytes = (await stat(file)).size;
  const env = { ...process.env, NODE_ENV: 'test', DATABASE_URL: testDb.url, REDIS_URL: redisUrl, QUEUE_PREFIX: prefix, LOG_LEVEL: 'silent', SEND_RATE: '50' };
  // /usr/bin/time reports the command's own CPU: on a shared host wall time says more about the
  // neighbours than about the import.
  const timed = async (label: string, args: string[]) => {
    const started = performance.now();
    const { stdout, stderr } = await run('/usr/bin/time', ['-f', 'cpu %U user %S sys', process.execPath, cli, ...args], { env, maxBuffer: 1 << 30 });
    const ms = performance.now() - started;
    const cpu = /cpu ([\d.]+) user ([\d.]+) sys/.exec(stderr);
    console.log(`${label}: ${(ms / 1000).toFixed(2)} s wall (${Math.round(n / (ms / 1000)).toLocaleString('en')} rows/s, process start included); CLI CPU ${cpu ? (Number(cpu[1]) + Number(cpu[2])).toFixed(2) : '?'} s`);
    console.log(`  ${stdout.trim().split('\n').at(-1)}`);
    return ms;
  };
  console.log(`${n.toLocaleString('en')} rows, ${(bytes / 1e6).toFixed(1)} MB, Node ${process.version}, ${os.cpus().length} cores`);
  await timed('import (double opt-in, confirmations queued)', ['subscribers', 'import', file]);
  await timed('re-import of the same file (changes nothing)', ['subscribers', 'import', file]);
  await timed('export', ['subscribers', 'export', '--out', path.join(dir, 'export.csv')]);
} finally {
  await rm(dir, { recursive: true, force: true });
  await testDb.drop();
  const redis = new Redis(redisUrl);
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
  await redis.quit();
}
