import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { startService, type Service } from '../../src/main.ts';
import { importPapersFile, sampleDataFile } from '../../src/papers/import-file.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { deleteQueuePrefix, testRedisUrl } from '../helpers/service.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';

const run = promisify(execFile);
const cli = path.join(import.meta.dirname, '../../bin/paperboy.js');

/** The README's first run, as a new user does it: no SECRET, one `npm start`, one `paperboy send`. */
describe('first run', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    cleanups.length = 0;
  });

  const paperboy = async (args: string[], env: Record<string, string>) => {
    // Only PATH and HOME from outside: no SECRET can leak in from the test runner's environment.
    const base = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NODE_ENV: 'development', LOG_LEVEL: 'silent', INGEST_SCHEDULE: 'false' };
    try {
      const { stdout, stderr } = await run(process.execPath, [cli, ...args], { env: { ...base, ...env }, timeout: 150_000 });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };

  it('a command on a database that is not migrated says to run `paperboy migrate`, exit 2, no stack trace', { timeout: 300_000 }, async () => {
    const testDb = await createTestDatabase({ migrate: false });
    cleanups.push(() => testDb.drop());
    for (const args of [['status'], ['send', '--date', '2025-12-26']]) {
      const result = await paperboy(args, { DATABASE_URL: testDb.url, REDIS_URL: testRedisUrl, SMTP_URL: 'smtp://127.0.0.1:9' });
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toContain('run `paperboy migrate`');
      expect(result.stderr).not.toMatch(/^\s+at /m);
    }
    const migrated = await paperboy(['migrate'], { DATABASE_URL: testDb.url });
    expect(migrated.code).toBe(0);
    const status = await paperboy(['status'], { DATABASE_URL: testDb.url });
    expect(status.stdout).toContain('Subscribers:');
  });

  it('links mailed by `paperboy send` verify in a separately started service, and after a restart, without SECRET', { timeout: 300_000 }, async () => {
    const testDb: TestDatabase = await createTestDatabase();
    cleanups.push(() => testDb.drop());
    const sink: SmtpSink = await startSmtpSink();
    cleanups.push(() => sink.close());
    const prefix = `pbtest-${Date.now().toString(36)}`;
    cleanups.push(() => deleteQueuePrefix(testRedisUrl, prefix));
    await importPapersFile(testDb.db, sampleDataFile);
    const person = await testDb.db
      .insertInto('subscribers')
      .values({ email: 'reader@example.com', status: 'active', confirmed_at: new Date() })
      .returning('id')
      .executeTakeFirstOrThrow();
    // DOMAIN_MX_GROUPING off: a test never asks the internet's DNS (the first run does, for example.com's MX).
    const env = { DATABASE_URL: testDb.url, REDIS_URL: testRedisUrl, QUEUE_PREFIX: prefix, SMTP_URL: sink.url, PUBLIC_URL: 'http://localhost:3000', DOMAIN_MX_GROUPING: 'false' };

    const sent = await paperboy(['send', '--date', '2025-12-26'], env);
    expect(sent.stderr).toBe('');
    expect(sent.code).toBe(0);
    const digest = sink.to('reader@example.com')[0]!;
    const unsubscribeUrl = digest.headerLines('List-Unsubscribe')[0]!.replace(/^<|>$/g, '');
    const path = new URL(unsubscribeUrl).pathname;

    // The service, started afterwards in another process with the same (SECRET-less) settings.
    const startApi = async () => {
      const service: Service = await startService(loadConfig({ ...env, NODE_ENV: 'development', PORT: '0', LOG_LEVEL: 'silent', RATE_LIMIT_NAMESPACE: `${prefix}-rl` }), {
        role: 'api',
        log: createLogger('silent'),
      });
      cleanups.push(() => service.close());
      return service;
    };
    const first = await startApi();
    const page = await first.app!.inject({ method: 'GET', url: path });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('Unsubscribe');
    await first.close();

    const restarted = await startApi();
    expect(restarted.config.secret).toBe(first.config.secret);
    const oneClick = await restarted.app!.inject({ method: 'POST', url: path, payload: 'List-Unsubscribe=One-Click', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(oneClick.statusCode).toBe(200);
    const row = await testDb.db.selectFrom('subscribers').select('status').where('id', '=', person.id).executeTakeFirstOrThrow();
    expect(row.status).toBe('unsubscribed');
  });

  /** NODE_OPTIONS of the node process that runs a `paperboy` command (the bin re-starts node with the heap flags). */
  const nodeOptionsOfCommand = async (args: string[], env: Record<string, string>) => {
    // Postgres on a closed port: the command starts, fails to connect and exits.
    const child = spawn(process.execPath, [cli, ...args], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', DATABASE_URL: 'postgres://postgres@127.0.0.1:9/none', NODE_ENV: 'test', ...env },
      stdio: 'ignore',
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const environOf = (pid: number) => readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    try {
      let seen: string[] | undefined;
      while (child.exitCode === null && child.signalCode === null && !seen) {
        try {
          const children = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim();
          // Right after fork, before exec, a child still shows its parent's environment.
          const environ = children ? environOf(Number(children.split(' ')[0])) : [];
          if (environ.some((line) => line.startsWith('NODE_OPTIONS='))) seen = environ;
        } catch {
          // The process is gone between the checks.
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      return seen?.find((line) => line.startsWith('NODE_OPTIONS='))?.slice('NODE_OPTIONS='.length) ?? 'no child process';
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  };

  it('runs workers with the heap settings of BENCHMARKS.md, other roles with more, and leaves NODE_OPTIONS alone', { timeout: 120_000 }, async () => {
    expect(await nodeOptionsOfCommand(['worker'], {})).toBe('--max-old-space-size=128 --max-semi-space-size=4');
    expect(await nodeOptionsOfCommand(['all'], {})).toBe('--max-old-space-size=192 --max-semi-space-size=4');
    expect(await nodeOptionsOfCommand(['worker'], { NODE_OPTIONS: '--max-old-space-size=300' })).toBe('no child process');
  });
});
