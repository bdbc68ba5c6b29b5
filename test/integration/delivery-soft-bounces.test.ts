import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importPapersFile, sampleDataFile } from '../../src/papers/import-file.ts';
import { sendDailyEdition } from '../helpers/editions.ts';
import { startTestService, type TestService } from '../helpers/service.ts';

/**
 * Soft bounces through the real sender (issue 14): a 5.2.2 reply, and a 4xx mailbox reply that
 * never clears, count once per edition; SOFT_BOUNCE_LIMIT of them in a row, spanning at least
 * SOFT_BOUNCE_DAYS, suppress the address; an accepted message in between starts the count again.
 */
describe('soft bounces through the sender', () => {
  let t: TestService;
  let edition = 0;
  beforeAll(async () => {
    // No retry window: the 4xx gives up after its two attempts, at once.
    t = await startTestService({ SEND_RATE: '2000', SEND_MAX_ATTEMPTS: '2', SEND_RETRY_DELAY_MS: '50', SEND_RETRY_WINDOW_MINUTES: '0', SOFT_BOUNCE_LIMIT: '3', SOFT_BOUNCE_DAYS: '7' });
    await importPapersFile(t.service.db, sampleDataFile);
    await t.service.db
      .insertInto('subscribers')
      .values(['full@example.org', 'quota@example.org', 'recovers@example.org', 'fine@example.org'].map((email) => ({ email, status: 'active' as const, confirmed_at: new Date(Date.now() - 86_400_000) })))
      .execute();
    t.sink.onRcpt = (address) => {
      if (address === 'full@example.org') return { code: 552, message: '5.2.2 Mailbox full' };
      if (address === 'quota@example.org') return { code: 452, message: '4.2.2 Over quota, try again later' };
      // Full for the first two editions, accepts the third, full again afterwards.
      if (address === 'recovers@example.org' && edition !== 3) return { code: 552, message: '5.2.2 Mailbox full' };
      return undefined;
    };
  });
  afterAll(async () => t?.stop());

  const state = async (email: string) => {
    const subscriber = await t.service.db.selectFrom('subscribers').select(['id', 'status']).where('email', '=', email).executeTakeFirstOrThrow();
    const bounce = await t.service.db.selectFrom('soft_bounces').select(['consecutive', 'last_response']).where('subscriber_id', '=', subscriber.id).executeTakeFirst();
    return { status: subscriber.status, consecutive: bounce?.consecutive ?? 0 };
  };
  const delivery = (runId: number, email: string) =>
    t.service.db
      .selectFrom('deliveries')
      .innerJoin('subscribers', 'subscribers.id', 'deliveries.subscriber_id')
      .select(['deliveries.status', 'deliveries.attempts', 'deliveries.enhanced_code'])
      .where('run_id', '=', runId)
      .where('subscribers.email', '=', email)
      .executeTakeFirst();

  it('counts one soft bounce per edition, suppresses only after the limit over enough days, and starts again after a success', { timeout: 120_000 }, async () => {
    const days = ['2025-12-22', '2025-12-23', '2025-12-24', '2025-12-25', '2025-12-26'];
    const expected = [
      { full: 1, quota: 1, recovers: 1 },
      { full: 2, quota: 2, recovers: 2 },
      // Three in a row, but within a day of each other: not yet.
      { full: 3, quota: 3, recovers: 0 },
    ];
    for (const [i, counts] of expected.entries()) {
      edition = i + 1;
      const sent = await sendDailyEdition(t, days[i]!);
      expect(await delivery(sent.runId, 'full@example.org')).toMatchObject({ status: 'failed', attempts: 1, enhanced_code: '5.2.2' });
      // The 4xx was retried up to SEND_MAX_ATTEMPTS, then counted as a soft bounce.
      expect(await delivery(sent.runId, 'quota@example.org')).toMatchObject({ status: 'failed', attempts: 2, enhanced_code: '4.2.2' });
      expect(await delivery(sent.runId, 'recovers@example.org')).toMatchObject({ status: edition === 3 ? 'sent' : 'failed' });
      expect(await delivery(sent.runId, 'fine@example.org')).toMatchObject({ status: 'sent' });
      expect(await state('full@example.org')).toEqual({ status: 'active', consecutive: counts.full });
      expect(await state('quota@example.org')).toEqual({ status: 'active', consecutive: counts.quota });
      expect(await state('recovers@example.org')).toEqual({ status: 'active', consecutive: counts.recovers });
    }
    expect(t.sink.rcptAttempts.get('quota@example.org')).toBe(6);

    // The run of bad editions began more than SOFT_BOUNCE_DAYS ago: the next one suppresses.
    await t.service.db.updateTable('soft_bounces').set({ first_at: new Date(Date.now() - 8 * 86_400_000) }).execute();
    edition = 4;
    await sendDailyEdition(t, days[3]!);
    expect(await state('full@example.org')).toEqual({ status: 'bounced', consecutive: 4 });
    expect(await state('quota@example.org')).toEqual({ status: 'bounced', consecutive: 4 });
    // Its count started again after the accepted message: one, and recent.
    expect(await state('recovers@example.org')).toEqual({ status: 'active', consecutive: 1 });

    // Suppressed addresses get no further attempts.
    const attemptsBefore = { full: t.sink.rcptAttempts.get('full@example.org'), quota: t.sink.rcptAttempts.get('quota@example.org') };
    edition = 5;
    const last = await sendDailyEdition(t, days[4]!);
    expect(await delivery(last.runId, 'fine@example.org')).toMatchObject({ status: 'sent' });
    expect({ full: t.sink.rcptAttempts.get('full@example.org'), quota: t.sink.rcptAttempts.get('quota@example.org') }).toEqual(attemptsBefore);
    expect(await delivery(last.runId, 'full@example.org')).toBeUndefined();
  });
});
