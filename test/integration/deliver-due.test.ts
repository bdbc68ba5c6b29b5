import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAILY_DIGEST_SCHEDULER_ID, DELIVER_DUE_SCHEDULER_ID } from '../../src/app/schedules.ts';
import { findSendRunById } from '../../src/delivery/send-run.repository.ts';
import { importPapersFile, sampleDataFile } from '../../src/papers/import-file.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { waitFor } from '../helpers/wait-for.ts';

const HOUR = 3_600_000;

describe('delivery at the reader\'s own hour (issue #10, item 5)', () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService();
    await importPapersFile(t.service.db, sampleDataFile);
    const add = (email: string, time_zone: string, frequency: 'daily' | 'weekly' = 'daily') =>
      t.service.db.insertInto('subscribers').values({ email, status: 'active', confirmed_at: new Date('2025-12-01T00:00:00Z'), time_zone, frequency }).execute();
    await add('berlin@example.org', 'Europe/Berlin');
    await add('newyork@example.org', 'America/New_York');
    await add('lordhowe@example.org', 'Australia/Lord_Howe');
    await add('weekly@example.org', 'Europe/Berlin', 'weekly');
  }, 60_000);
  afterAll(async () => t?.stop());

  const digestsTo = (email: string) => t.sink.to(email).filter((m) => m.parsed.messageId?.startsWith('<digest.'));

  /** One tick, fired twice at once (two schedulers), then waits for whatever it planned. */
  const tick = async (at: Date) => {
    const [a, b] = await Promise.all([t.service.services.deliverDue(at), t.service.services.deliverDue(at)]);
    expect(b.map((r) => r.runId)).toEqual(a.map((r) => r.runId));
    for (const run of a) {
      if (run.runId) await waitFor(async () => (await findSendRunById(t.service.db, run.runId!))?.status === 'sent', { what: `run ${run.runId} sent` });
    }
    return a;
  };

  it('sends each reader their edition at their own 08:00, once, though every tick runs twice', async () => {
    const firstSeen = new Map<string, string>();
    const readers = ['berlin@example.org', 'newyork@example.org', 'lordhowe@example.org'];
    // Every hour of 27 December (UTC), and the evening before for Lord Howe (UTC+11 in summer).
    for (let at = Date.parse('2025-12-26T18:00:00Z'); at <= Date.parse('2025-12-27T23:00:00Z'); at += HOUR) {
      await tick(new Date(at));
      for (const email of readers) {
        if (!firstSeen.has(email) && digestsTo(email).length > 0) firstSeen.set(email, new Date(at).toISOString().slice(0, 13));
      }
    }
    // 08:00 in Berlin (UTC+1), New York (UTC−5) and Lord Howe (UTC+11, 28 December local).
    expect(Object.fromEntries(firstSeen)).toEqual({
      'berlin@example.org': '2025-12-27T07',
      'newyork@example.org': '2025-12-27T13',
      'lordhowe@example.org': '2025-12-26T21',
    });
    // Berlin and New York got 26 December at their 08:00 on the 27th. Lord Howe had two mornings
    // in the window: its 08:00 on the 27th (local) came before 26 December had ended in UTC, so it
    // got the 25th then and the 26th at its next 08:00: a digest every morning, each edition once.
    const subjects = (email: string) => digestsTo(email).map((m) => /Trending papers, (\w+day, \d+ December 2025)/.exec(m.parsed.subject ?? '')?.[1]);
    expect(subjects('berlin@example.org')).toEqual(['Friday, 26 December 2025']);
    expect(subjects('newyork@example.org')).toEqual(['Friday, 26 December 2025']);
    expect(subjects('lordhowe@example.org')).toEqual(['Thursday, 25 December 2025', 'Friday, 26 December 2025']);
    const ids = t.sink.messages.map((m) => m.parsed.messageId);
    expect(new Set(ids).size).toBe(ids.length);
    // The weekly reader got none of the daily editions.
    expect(digestsTo('weekly@example.org')).toEqual([]);
  });

  it('sends a weekly reader exactly one email a week: on their Monday, the week before', async () => {
    for (let day = Date.parse('2025-12-28T07:00:00Z'); day <= Date.parse('2026-01-04T07:00:00Z'); day += 24 * HOUR) {
      await tick(new Date(day));
      await tick(new Date(day)); // and again later, as a restarted scheduler would
    }
    const weekly = digestsTo('weekly@example.org');
    expect(weekly).toHaveLength(1);
    expect(weekly[0]!.parsed.subject).toContain('2025-W52');
    const edition = await t.service.db.selectFrom('editions').selectAll().where('kind', '=', 'weekly').executeTakeFirstOrThrow();
    expect(edition.digest_date).toBe('2025-12-22');
    expect(edition.paper_ids.length).toBeGreaterThan(0);
    // Sent on Monday 29 December at 08:00 Berlin: the tick of 07:00 UTC.
    const run = await t.service.db.selectFrom('send_runs').select('audience').where('edition_id', '=', edition.id).executeTakeFirstOrThrow();
    expect(run.audience).toBe('due:2025-12-29T07');
  });

  it('registers one hourly scheduler and, with no DIGEST_HOUR or DIGEST_CRON, no fixed daily one', async () => {
    const schedulers = await t.service.queues.byName.digest.getJobSchedulers(0, -1, true);
    expect(schedulers.filter((s) => s.key === DAILY_DIGEST_SCHEDULER_ID)).toEqual([]);
    const hourly = schedulers.filter((s) => s.key === DELIVER_DUE_SCHEDULER_ID);
    expect(hourly).toHaveLength(1);
    expect(hourly[0]!.pattern).toBe('0 0 * * * *');
    const next = new Date(hourly[0]!.next!);
    expect(next.getUTCMinutes()).toBe(0);
    expect(next.getTime()).toBeGreaterThan(Date.now());
    expect(next.getTime() - Date.now()).toBeLessThanOrEqual(3600 * 1000);
  });

  it('a deliver-due job for an instant sends the readers due then', async () => {
    await t.service.db.insertInto('subscribers').values({ email: 'tokyo@example.org', status: 'active', time_zone: 'Asia/Tokyo' }).execute();
    // 08:00 in Tokyo on 24 December is 23:00 UTC on the 23rd: the last complete UTC day is the 22nd.
    await t.service.queues.byName.digest.add('deliver-due', { at: '2025-12-23T23:00:00Z' });
    const message = await waitFor(() => digestsTo('tokyo@example.org')[0], { what: "the Tokyo reader's digest" });
    expect(message.parsed.subject).toContain('Monday, 22 December 2025');
  });
});
