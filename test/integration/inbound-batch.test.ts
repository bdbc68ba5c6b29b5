import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verpAddress } from '../../src/delivery/verp.ts';
import { storeReports, type NewReport } from '../../src/inbound/inbound-report.repository.ts';
import { processReportBatch } from '../../src/inbound/process-batch.ts';
import { processReport, type ReportDeps } from '../../src/inbound/process-report.ts';
import { createLogger } from '../../src/logger.ts';
import { bounceFixture } from '../helpers/bounce-fixtures.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { seedSentDeliveries } from '../helpers/inbound-seed.ts';

const DOMAIN = 'bounces.papers.example.test';

/**
 * The batch path (process-batch.ts) must do exactly what processing the same reports one by one
 * (process-report.ts) does: the same reports are stored twice, for two sets of identical people,
 * one set processed in a single batch and the other report by report, and every outcome and every
 * effect compared. The mixture has what makes batching hard: the same DSN twice, a complaint and
 * a bounce for one person, soft bounces, a mailto: unsubscribe, an erased person, junk.
 */
describe('inbound reports processed in one batch give what one by one gives', () => {
  let t: TestDatabase;
  const verp = { local: 'bounces', domain: DOMAIN, secrets: [randomBytes(32).toString('hex')] };
  let deps: ReportDeps;
  beforeAll(async () => {
    t = await createTestDatabase();
    deps = { db: t.db, log: createLogger('silent'), verp, softBounceLimit: 2, softBounceDays: 0 };
  });
  afterAll(async () => {
    await t?.drop();
  });

  type Row = Awaited<ReturnType<typeof seedSentDeliveries>>['rows'][number];
  const mail = (row: Row, file: string, to: 'bounce' | 'feedback' = 'bounce'): NewReport => {
    const returnPath = verpAddress(verp, 'bounce', row.deliveryId);
    const raw = bounceFixture(file, { rcpt: row.email, returnPath, messageId: row.messageId, feedbackTo: `bounces@${DOMAIN}` });
    return to === 'bounce'
      ? { source: 'smtp', remoteIp: '192.0.2.1', envelopeFrom: '', recipient: returnPath, purpose: 'bounce', deliveryId: row.deliveryId, raw: Buffer.from(raw, 'latin1') }
      : { source: 'smtp', remoteIp: '192.0.2.1', envelopeFrom: 'fbl@example.net', recipient: `bounces@${DOMAIN}`, purpose: 'feedback', deliveryId: null, raw: Buffer.from(raw, 'latin1') };
  };
  const reportsFor = (rows: Row[]): NewReport[] => [
    mail(rows[0]!, 'gmail-hard.eml'),
    mail(rows[1]!, 'postfix-soft.eml'),
    mail(rows[2]!, 'outlook-hard.eml'),
    mail(rows[2]!, 'outlook-hard.eml'), // an MTA resending the same DSN
    mail(rows[3]!, 'arf-abuse.eml', 'feedback'),
    mail(rows[3]!, 'exim-hard.eml'), // complained, then bounced: order matters
    mail(rows[4]!, 'postfix-delayed.eml'),
    { source: 'smtp', remoteIp: '192.0.2.1', envelopeFrom: rows[5]!.email, recipient: verpAddress(verp, 'unsubscribe', rows[5]!.deliveryId), purpose: 'unsubscribe', deliveryId: rows[5]!.deliveryId, raw: Buffer.from('Subject: unsubscribe\r\n\r\n') },
    mail(rows[6]!, 'yahoo-hard.eml'),
    mail(rows[7]!, 'gmail-hard.eml'), // erased before processing
    { ...mail(rows[8]!, 'gmail-hard.eml'), raw: Buffer.from('Content-Type: multipart/report; boundary=\r\n\r\n--\r\n\x00junk') },
    mail(rows[9]!, 'arf-no-original.eml', 'feedback'),
    mail(rows[10]!, 'postfix-soft.eml'),
    mail(rows[10]!, 'gmail-hard.eml'), // soft then hard for one person
  ];
  const PEOPLE = 11;

  const snapshot = async (rows: Row[], reportIds: number[]) => {
    const reports = await t.db.selectFrom('inbound_reports').select(['id', 'kind', 'outcome', 'delivery_id', 'attempts', 'processed_at']).where('id', 'in', reportIds).orderBy('id').execute();
    const position = new Map(rows.map((r, i) => [r.deliveryId, i]));
    const people = [];
    for (const row of rows) {
      const delivery = await t.db.selectFrom('deliveries').select(['status', 'reason', 'enhanced_code', 'smtp_response']).where('id', '=', row.deliveryId).executeTakeFirst();
      const subscriber = await t.db.selectFrom('subscribers').select(['status', 'bounce_count', 'unsubscribe_source']).where('id', '=', row.subscriberId).executeTakeFirst();
      const soft = await t.db.selectFrom('soft_bounces').select('consecutive').where('subscriber_id', '=', row.subscriberId).executeTakeFirst();
      const events = await t.db.selectFrom('consent_events').select(['kind', 'source']).where('subscriber_id', '=', row.subscriberId).orderBy('id').execute();
      // The two sets' addresses differ only in the edition number (inbound-seed.ts).
      const response = delivery?.smtp_response?.replace(/(reader\d+)\.\d+@/g, '$1@');
      people.push({ delivery: delivery && { ...delivery, smtp_response: response }, subscriber, soft: soft?.consecutive, events });
    }
    return {
      reports: reports.map((r) => ({ kind: r.kind, outcome: r.outcome, person: r.delivery_id === null ? null : position.get(Number(r.delivery_id)), attempts: r.attempts, processed: r.processed_at !== null })),
      people,
    };
  };

  it('compares a batch of mixed reports with the same reports processed in turn', async () => {
    const batch = (await seedSentDeliveries(t.db, PEOPLE, '2025-12-20')).rows;
    const batchIds = await storeReports(t.db, reportsFor(batch));
    await t.db.deleteFrom('subscribers').where('id', '=', batch[7]!.subscriberId).execute();
    expect(await processReportBatch(deps, batchIds.length, batchIds[0]! - 1)).toEqual(batchIds);
    const after = await snapshot(batch, batchIds);
    expect(after.reports.every((r) => r.processed && r.attempts === 1)).toBe(true);

    const fresh = (await seedSentDeliveries(t.db, PEOPLE, '2025-12-21')).rows;
    const freshIds = await storeReports(t.db, reportsFor(fresh));
    await t.db.deleteFrom('subscribers').where('id', '=', fresh[7]!.subscriberId).execute();
    for (const id of freshIds) await processReport(deps, id);

    const one = await snapshot(fresh, freshIds);
    expect(after).toEqual(one);
    // And what that is, so the comparison cannot pass with both paths doing nothing.
    expect(one.reports.map((r) => r.kind)).toEqual([
      'hard_bounce',
      'soft_bounce',
      'hard_bounce',
      'hard_bounce',
      'complaint',
      'hard_bounce',
      'ignored',
      'unsubscribe',
      'hard_bounce',
      'hard_bounce',
      'ignored',
      'complaint',
      'soft_bounce',
      'hard_bounce',
    ]);
    expect(one.people.map((p) => p.subscriber?.status)).toEqual(['bounced', 'active', 'bounced', 'complained', 'active', 'unsubscribed', 'bounced', undefined, 'active', 'active', 'active']);
    expect(one.people[2]!.subscriber?.bounce_count).toBe(1);
    expect(one.people[1]!.soft).toBe(1);
  });

  it('claims nothing when nothing is pending, and skips reports another processor holds', async () => {
    const rows = (await seedSentDeliveries(t.db, 2, '2025-12-22')).rows;
    const ids = await storeReports(t.db, [mail(rows[0]!, 'gmail-hard.eml'), mail(rows[1]!, 'gmail-hard.eml')]);
    const trx = await t.db.connection().execute(async (c) => {
      await sql`begin`.execute(c);
      await sql`select id from inbound_reports where id = ${ids[0]} for update`.execute(c);
      const claimed = await processReportBatch(deps, 100, ids[0]! - 1);
      await sql`rollback`.execute(c);
      return claimed;
    });
    expect(trx).toEqual([ids[1]]);
    expect(await processReportBatch(deps, 100, ids[0]! - 1)).toEqual([ids[0]]);
    expect(await processReportBatch(deps, 100, ids[0]! - 1)).toEqual([]);
  });
});
