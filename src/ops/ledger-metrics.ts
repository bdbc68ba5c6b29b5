import { sql } from 'kysely';
import type { Database } from '../db/database.ts';

export interface LedgerSnapshot {
  deliveries: { edition: string; kind: string; state: string; replyClass: string; count: number }[];
  editions: { edition: string; kind: string; planned: number; final: number; paused: boolean }[];
  sentLastMinute: number;
  subscribers: Record<string, number>;
}

/** Editions whose figures are exported: every one still in progress, and the latest few. */
const LATEST_EDITIONS = 3;

/**
 * Scrape-time reads, each bounded: ledger rows only of the editions in progress and the latest
 * few (served by deliveries_run_status_idx), subscribers grouped by status (one pass over a
 * narrow table), and the last minute's sends of those editions.
 */
export async function readLedgerSnapshot(db: Database): Promise<LedgerSnapshot> {
  // A send run is one edition sent to one audience; the labels name its edition.
  const editions = await db
    .selectFrom('send_runs')
    .innerJoin('editions', 'editions.id', 'send_runs.edition_id')
    .select(['send_runs.id', 'editions.digest_date', 'editions.kind', 'send_runs.status', 'send_runs.planned_count'])
    .where((eb) =>
      eb.or([
        eb('send_runs.status', 'in', ['planning', 'sending', 'paused']),
        eb('send_runs.id', 'in', eb.selectFrom('send_runs as latest').select('latest.id').orderBy('latest.id', 'desc').limit(LATEST_EDITIONS)),
      ]),
    )
    .execute();
  const ids = editions.map((e) => e.id);
  // RFC 3463: class.subject (`5.1` from `5.1.1`) tells mailbox, policy and system problems apart
  // with a bounded set of label values.
  const replyClass = sql<string>`coalesce(substring(enhanced_code from '^[245]\\.[0-7]'), 'none')`;
  const [rows, sent, subscribers] = await Promise.all([
    ids.length === 0
      ? Promise.resolve([])
      : db
          .selectFrom('deliveries')
          .select(['run_id', 'status', replyClass.as('reply_class'), (eb) => eb.fn.countAll<string>().as('n')])
          .where('run_id', 'in', ids)
          .groupBy(['run_id', 'status', sql`3`])
          .execute(),
    ids.length === 0
      ? Promise.resolve({ n: '0' })
      : db
          .selectFrom('deliveries')
          .select((eb) => eb.fn.countAll<string>().as('n'))
          .where('run_id', 'in', ids)
          .where('status', '=', 'sent')
          .where('sent_at', '>', sql<Date>`now() - interval '60 seconds'`)
          .executeTakeFirstOrThrow(),
    db.selectFrom('subscribers').select(['status', (eb) => eb.fn.countAll<string>().as('n')]).groupBy('status').execute(),
  ]);
  const byId = new Map(editions.map((e) => [e.id, e]));
  const final = new Map<number, number>();
  const deliveries = rows.map((row) => {
    const edition = byId.get(row.run_id)!;
    const count = Number(row.n);
    if (!['queued', 'sending'].includes(row.status)) final.set(row.run_id, (final.get(row.run_id) ?? 0) + count);
    return { edition: edition.digest_date, kind: edition.kind, state: row.status, replyClass: row.reply_class, count };
  });
  const subscriberCounts: Record<string, number> = { pending: 0, active: 0, unsubscribed: 0, bounced: 0, complained: 0 };
  for (const row of subscribers) subscriberCounts[row.status] = Number(row.n);
  return {
    deliveries,
    editions: editions.map((e) => ({ edition: e.digest_date, kind: e.kind, planned: e.planned_count, final: final.get(e.id) ?? 0, paused: e.status === 'paused' })),
    sentLastMinute: Number(sent.n),
    subscribers: subscriberCounts,
  };
}
