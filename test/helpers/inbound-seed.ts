import type { Database } from '../../src/db/database.ts';
import { verpAddress, type VerpSettings } from '../../src/delivery/verp.ts';
import { bounceFixture } from './bounce-fixtures.ts';

/**
 * `n` digests already sent (an edition, its run and one `sent` ledger row per new subscriber),
 * written directly: what a report needs to find, without sending anything.
 */
export async function seedSentDeliveries(db: Database, n: number, day = '2025-12-26') {
  const edition = await db.insertInto('editions').values({ digest_date: day, status: 'ready', subject: 'Trending papers', paper_ids: [], html_template: '', text_template: '' }).returning('id').executeTakeFirstOrThrow();
  const run = await db.insertInto('send_runs').values({ edition_id: edition.id, status: 'sent' }).returning('id').executeTakeFirstOrThrow();
  const rows: { deliveryId: number; subscriberId: number; email: string; messageId: string }[] = [];
  for (let from = 0; from < n; from += 1000) {
    const emails = Array.from({ length: Math.min(1000, n - from) }, (_, i) => `reader${from + i}.${edition.id}@example.org`);
    const subscribers = await db.insertInto('subscribers').values(emails.map((email) => ({ email, status: 'active' as const, confirmed_at: new Date() }))).returning(['id', 'email']).execute();
    const deliveries = await db
      .insertInto('deliveries')
      .values(subscribers.map((s) => ({ run_id: run.id, subscriber_id: s.id, status: 'sent' as const, message_id: `<digest.e${edition.id}.s${s.id}@papers.example.test>`, sent_at: new Date() })))
      .returning(['id', 'subscriber_id', 'message_id'])
      .execute();
    for (const [i, d] of deliveries.entries()) rows.push({ deliveryId: Number(d.id), subscriberId: Number(d.subscriber_id), email: subscribers[i]!.email, messageId: d.message_id!.slice(1, -1) });
  }
  return { editionId: Number(edition.id), runId: Number(run.id), rows };
}

/** A DSN from the fixtures for one seeded delivery, addressed to its signed return path. */
export function dsnFor(verp: VerpSettings, row: { deliveryId: number; email: string; messageId: string }, file = 'gmail-hard.eml') {
  const returnPath = verpAddress(verp, 'bounce', row.deliveryId);
  return { returnPath, raw: bounceFixture(file, { rcpt: row.email, returnPath, messageId: row.messageId }) };
}
