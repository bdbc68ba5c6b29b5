import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importPapersFile, sampleDataFile } from '../../src/papers/import-file.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { deleteQueuePrefix, testRedisUrl } from '../helpers/service.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';

const cli = path.join(import.meta.dirname, '../../bin/paperboy.js');

/**
 * `paperboy send`, `status`, `resume` and `preview` as an operator runs them, against a real SMTP
 * sink, with the exit codes the README promises: 0 done, 3 failed or unknown deliveries, 4 paused.
 */
describe('paperboy send, status, resume and preview', () => {
  let testDb: TestDatabase;
  let sink: SmtpSink;
  let dir: string;
  const prefix = `pbcli-${randomBytes(6).toString('hex')}`;
  const readers = Array.from({ length: 6 }, (_, i) => `reader${i}@example.org`);

  beforeAll(async () => {
    testDb = await createTestDatabase();
    sink = await startSmtpSink();
    dir = mkdtempSync(path.join(os.tmpdir(), 'paperboy-cli-'));
    await importPapersFile(testDb.db, sampleDataFile);
    await testDb.db
      .insertInto('subscribers')
      .values(readers.map((email) => ({ email, status: 'active' as const, confirmed_at: new Date(Date.now() - 86_400_000) })))
      .execute();
  });
  afterAll(async () => {
    await sink?.close();
    await deleteQueuePrefix(testRedisUrl, prefix);
    await testDb?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Exit code and output; execFile's timeout kills the child, so none outlives the test. */
  const paperboy = (args: string[], env: Record<string, string> = {}) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [cli, ...args],
        {
          env: {
            PATH: process.env.PATH ?? '',
            HOME: process.env.HOME ?? '',
            NODE_ENV: 'test',
            LOG_LEVEL: 'silent',
            DATABASE_URL: testDb.url,
            REDIS_URL: testRedisUrl,
            QUEUE_PREFIX: prefix,
            SMTP_URL: sink.url,
            PUBLIC_URL: 'https://papers.example.test',
            MAIL_FROM: 'Paperboy <digest@papers.example.test>',
            SECRET: 'a-test-secret-of-at-least-32-characters!!',
            SEND_RATE: '1000',
            SEND_RETRY_DELAY_MS: '50',
            SEND_MAX_ATTEMPTS: '2',
            POLICY_PAUSE_THRESHOLD: '2',
            // As in the fault drills (test/helpers/fault-drill.ts): what a `send` that ended (paused,
            // here) left claimed or locked comes back in seconds, not the defaults' 30-60 s, which the
            // send that finishes a resumed edition otherwise sat out twice.
            DELIVERY_LEASE_SECONDS: '3',
            RECONCILE_INTERVAL_SECONDS: '0.5',
            JOB_LOCK_SECONDS: '3',
            ...env,
          },
          timeout: 150_000,
          killSignal: 'SIGKILL',
        },
        (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
  const ledger = async (day: string) => {
    const rows = await testDb.db
      .selectFrom('deliveries')
      .innerJoin('send_runs', 'send_runs.id', 'deliveries.run_id')
      .innerJoin('editions', 'editions.id', 'send_runs.edition_id')
      .select(['deliveries.status'])
      .where('editions.digest_date', '=', day)
      .execute();
    const counts: Record<string, number> = {};
    for (const row of rows) counts[row.status] = (counts[row.status] ?? 0) + 1;
    return counts;
  };
  const titlesOf = (day: string) =>
    (JSON.parse(readFileSync(sampleDataFile, 'utf8')) as { publishedAt: string; title: string }[]).filter((p) => p.publishedAt.startsWith(day)).map((p) => p.title);

  it('preview renders the day to a file or stdout without sending, and exits 1 for a day without papers', { timeout: 200_000 }, async () => {
    const out = path.join(dir, 'preview.html');
    const [toFile, toStdout, empty] = await Promise.all([
      paperboy(['preview', '--date', '2025-12-26', '--out', out]),
      paperboy(['preview', '--date', '2025-12-26']),
      paperboy(['preview', '--date', '2020-01-01']),
    ]);
    expect(toFile.code, toFile.stderr).toBe(0);
    expect(toFile.stdout).toMatch(/^Wrote .*preview\.html \(\d+ papers, \d+ bytes of HTML\)/);
    const html = readFileSync(out, 'utf8');
    expect(html).toMatch(/^<!doctype html>/i);
    // The most upvoted paper of the day leads; titles are compared with the data file, not the renderer.
    const escaped = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
    expect(titlesOf('2025-12-26').some((title) => html.includes(escaped(title)))).toBe(true);
    expect(toStdout.code).toBe(0);
    expect(toStdout.stdout).toBe(html);
    expect(empty.code).toBe(1);
    expect(empty.stderr).toContain('No papers were featured on 2020-01-01');
    expect(sink.accepted).toBe(0);
    expect(await testDb.db.selectFrom('editions').select('id').execute()).toEqual([]);
  });

  it('send delivers the edition once with exit 0, and a repeated send sends nothing new', { timeout: 200_000 }, async () => {
    const first = await paperboy(['send', '--date', '2025-12-26']);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(first.stdout).toMatch(/Edition \d+ \(daily 2025-12-26\): sent/);
    expect(await ledger('2025-12-26')).toEqual({ sent: readers.length });
    expect(sink.accepted).toBe(readers.length);
    const again = await paperboy(['send', '--date', '2025-12-26']);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(sink.accepted).toBe(readers.length);
    expect(await ledger('2025-12-26')).toEqual({ sent: readers.length });
  });

  it('send exits 3 when a delivery failed, and status reports it', { timeout: 200_000 }, async () => {
    sink.onRcpt = (address) => (address === 'reader0@example.org' ? { code: 552, message: '5.2.2 Mailbox full' } : undefined);
    const result = await paperboy(['send', '--date', '2025-12-25']);
    sink.onRcpt = undefined;
    expect(result.code, result.stdout + result.stderr).toBe(3);
    expect(await ledger('2025-12-25')).toEqual({ sent: readers.length - 1, failed: 1 });
    const status = await paperboy(['status', '--date', '2025-12-25']);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/Subscribers: .*active 6/);
    expect(status.stdout).toMatch(new RegExp(`Edition \\d+ \\(daily 2025-12-25\\): sent\\n.*\\n  planned ${readers.length}, done ${readers.length}: .*sent ${readers.length - 1}.*failed 1`));
  });

  it('send exits 4 when the edition pauses; status says why; resume continues it where it stopped', { timeout: 300_000 }, async () => {
    // Enough readers that the pause leaves rows queued (the chunks in flight finish first).
    const more = Array.from({ length: 200 }, (_, i) => `more${i}@example.org`);
    await testDb.db.insertInto('subscribers').values(more.map((email) => ({ email, status: 'active' as const, confirmed_at: new Date(Date.now() - 86_400_000) }))).execute();
    const total = readers.length + more.length;
    sink.onRcpt = () => ({ code: 550, message: '5.7.26 Unauthenticated email is not accepted' });
    // A slow rate claims small chunks: the pause comes while most rows are still queued.
    const paused = await paperboy(['send', '--date', '2025-12-24'], { SEND_RATE: '20' });
    expect(paused.code, paused.stdout + paused.stderr).toBe(4);
    const before = await ledger('2025-12-24');
    expect(before.failed).toBeGreaterThanOrEqual(2);
    expect(before.queued).toBeGreaterThan(0);
    expect(before.sent).toBeUndefined();

    const [status, noEdition] = await Promise.all([paperboy(['status', '--date', '2025-12-24']), paperboy(['resume', '--date', '2025-12-20'])]);
    expect(status.stdout).toMatch(/2025-12-24\): paused — paused after \d+ policy rejections .*5\.7\.26/);
    expect(noEdition.code).toBe(1);
    expect(noEdition.stderr).toContain('No edition for 2025-12-20.');
    sink.onRcpt = undefined;
    const resumed = await paperboy(['resume', '--date', '2025-12-24']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toMatch(/Edition \d+ resumed/);
    const run = await testDb.db
      .selectFrom('send_runs')
      .innerJoin('editions', 'editions.id', 'send_runs.edition_id')
      .select('send_runs.status')
      .where('editions.digest_date', '=', '2025-12-24')
      .executeTakeFirstOrThrow();
    expect(run.status).toBe('sending');

    // A worker (here the one `send` runs) finishes it: the queued rows are sent, the failed stay failed.
    const finished = await paperboy(['send', '--date', '2025-12-24']);
    expect(finished.code, finished.stdout).toBe(3);
    expect(await ledger('2025-12-24')).toEqual({ failed: before.failed, sent: total - before.failed! });
    expect([...sink.messageIds.values()].every((n) => n === 1)).toBe(true);
    const notPaused = await paperboy(['resume', '--date', '2025-12-24']);
    expect(notPaused.code).toBe(1);
    expect(notPaused.stderr).toMatch(/Edition \d+ is sent, not paused/);
  });
});
