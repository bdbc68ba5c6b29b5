import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findSendRunByEdition } from '../../src/delivery/send-run.repository.ts';
import { findEditionByDate } from '../../src/editions/edition.repository.ts';
import { importPapersFile, sampleDataFile } from '../../src/papers/import-file.ts';
import { DAILY_DIGEST_SCHEDULER_ID } from '../../src/app/schedules.ts';
import { startTestService, testRedisUrl, deleteQueuePrefix, type TestService } from '../helpers/service.ts';
import { waitFor } from '../helpers/wait-for.ts';

describe('the daily schedule', () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService({ DIGEST_HOUR: '7', DIGEST_TZ: 'Europe/Berlin' });
    await importPapersFile(t.service.db, sampleDataFile);
  });
  afterAll(async () => t?.stop());

  it('registers one scheduler for the configured hour and time zone', async () => {
    const schedulers = await t.service.queues.byName.digest.getJobSchedulers(0, -1, true);
    const daily = schedulers.filter((s) => s.key === DAILY_DIGEST_SCHEDULER_ID);
    expect(daily).toHaveLength(1);
    const scheduler = daily[0]!;
    expect(scheduler.pattern).toBe('0 0 7 * * *');
    expect(scheduler.tz).toBe('Europe/Berlin');
    const next = new Date(scheduler.next!);
    const berlin = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Berlin', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(next);
    expect(berlin).toBe('07:00');
    expect(next.getTime()).toBeGreaterThan(Date.now());
    expect(next.getTime() - Date.now()).toBeLessThanOrEqual(25 * 3600 * 1000);
  });

  it('sends the edition of the previous day when the scheduled job runs', async () => {
    await t.service.db.insertInto('subscribers').values({ email: 'morning@example.com', status: 'active' }).execute();
    // As the scheduler's job would fire at 07:00 Berlin on 2025-12-27.
    await t.service.queues.byName.digest.add('daily-digest', {}, { timestamp: Date.parse('2025-12-27T06:00:00Z') });
    const edition = await waitFor(async () => {
      const found = await findEditionByDate(t.service.db, 'daily', '2025-12-26');
      const run = found && (await findSendRunByEdition(t.service.db, found.id));
      return run?.status === 'sent' ? found : undefined;
    }, {
      what: 'edition of 2025-12-26 sent',
      // Rendering and sending take seconds, more on a busy machine; a bound, not a timing.
      timeoutMs: 60_000,
    });
    expect(edition.paper_ids.length).toBeGreaterThan(0);
    expect(t.sink.to('morning@example.com').map((m) => m.parsed.subject)).toEqual([edition.subject]);
  });
});

describe('shutdown', () => {
  it('drains and exits 0 on SIGTERM', async () => {
    const t = await startTestService();
    await t.service.close(); // only its database, prefix and sink are used by the child
    const prefix = `${t.config.queuePrefix}-child`;
    const child = spawn(process.execPath, [path.join(import.meta.dirname, '../../bin/paperboy.js'), 'worker'], {
      env: { ...process.env, NODE_ENV: 'test', DATABASE_URL: t.testDb.url, REDIS_URL: testRedisUrl, QUEUE_PREFIX: prefix, SMTP_URL: t.sink.url, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      // The worker role upserts its schedules once it is up.
      await waitFor(() => output.includes('worker started'), { what: 'worker started', timeoutMs: 30_000 });
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(output).toContain('shutting down');
    } finally {
      // Pass or fail, the child does not outlive the test.
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      await deleteQueuePrefix(testRedisUrl, prefix);
      await t.sink.close();
      await t.testDb.drop();
    }
  }, 60_000);
});
