import { sql } from 'kysely';
import type { Executor } from '../db/database.ts';
import type { Subscriber } from './subscriber.table.ts';

export interface PersonalDataExport {
  exportedAt: string;
  subscriber: {
    email: string;
    status: string;
    topics: string[];
    frequency: string;
    timeZone: string;
    confirmedAt: string | null;
    unsubscribedAt: string | null;
    unsubscribeSource: string | null;
    bounceCount: number;
    lastBounceAt: string | null;
    createdAt: string;
    updatedAt: string;
  };
  /** The consent history, oldest first: every sign-up, confirmation, unsubscribe and the like. */
  consentHistory: { event: string; at: string; ip: string | null; userAgent: string | null; source: string | null }[];
  /** Sign-ups made with this address and not confirmed (they changed nothing). */
  pendingSignups: { kind: string; requestedAt: string; email: string; topics: string[]; timeZone: string; ip: string | null; userAgent: string | null }[];
  deliveries: { digestDate: string; kind: string; status: string; messageId: string | null; sentAt: string | null; reason: string | null; smtpResponse: string | null }[];
  softBounces: { consecutive: number; firstAt: string; lastAt: string; lastResponse: string | null } | null;
  papersReceived: { arxivId: string; sentAt: string }[];
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/**
 * Each paper the person was sent, once, with when they first got it: derived from the ledger
 * (their sent deliveries → the run → the edition's papers), so nothing is stored per paper.
 */
async function papersReceived(db: Executor, subscriberId: number): Promise<{ arxiv_id: string; sent_at: Date }[]> {
  const { rows } = await sql<{ arxiv_id: string; sent_at: Date }>`
    select arxiv_id, min(sent_at) as sent_at from (
      select p.arxiv_id, d.sent_at
      from deliveries d
      join send_runs r on r.id = d.run_id
      join editions e on e.id = r.edition_id
      cross join lateral unnest(e.paper_ids) as p(arxiv_id)
      where d.subscriber_id = ${subscriberId} and d.status = 'sent' and d.sent_at is not null
        and exists (select 1 from papers where papers.arxiv_id = p.arxiv_id)
    ) received
    group by arxiv_id
    order by sent_at, arxiv_id`.execute(db);
  return rows;
}

/**
 * Everything stored about one person (GDPR Art. 15/20), and nobody else's data: every query is
 * keyed on the one subscriber id. Reads the delivery ledger directly because the export must be
 * complete and it is read-only; the delivery folder still owns every write to those tables.
 */
export async function collectPersonalData(db: Executor, subscriber: Subscriber): Promise<PersonalDataExport> {
  const [consentEvents, signups, deliveries, papers, softBounce] = await Promise.all([
    db.selectFrom('consent_events').selectAll().where('subscriber_id', '=', subscriber.id).orderBy('occurred_at').orderBy('id').execute(),
    db.selectFrom('signup_requests').selectAll().where('subscriber_id', '=', subscriber.id).orderBy('id').execute(),
    db
      .selectFrom('deliveries')
      .innerJoin('send_runs', 'send_runs.id', 'deliveries.run_id')
      .innerJoin('editions', 'editions.id', 'send_runs.edition_id')
      .select(['editions.digest_date', 'editions.kind', 'deliveries.status', 'deliveries.message_id', 'deliveries.sent_at', 'deliveries.reason', 'deliveries.smtp_response'])
      .where('deliveries.subscriber_id', '=', subscriber.id)
      .orderBy('deliveries.id')
      .execute(),
    papersReceived(db, subscriber.id),
    db.selectFrom('soft_bounces').select(['consecutive', 'first_at', 'last_at', 'last_response']).where('subscriber_id', '=', subscriber.id).executeTakeFirst(),
  ]);
  return {
    exportedAt: new Date().toISOString(),
    subscriber: {
      email: subscriber.email,
      status: subscriber.status,
      topics: subscriber.topics,
      frequency: subscriber.frequency,
      timeZone: subscriber.time_zone,
      confirmedAt: iso(subscriber.confirmed_at),
      unsubscribedAt: iso(subscriber.unsubscribed_at),
      unsubscribeSource: subscriber.unsubscribe_source,
      bounceCount: subscriber.bounce_count,
      lastBounceAt: iso(subscriber.last_bounce_at),
      createdAt: subscriber.created_at.toISOString(),
      updatedAt: subscriber.updated_at.toISOString(),
    },
    consentHistory: consentEvents.map((e) => ({ event: e.kind, at: e.occurred_at.toISOString(), ip: e.ip, userAgent: e.user_agent, source: e.source })),
    pendingSignups: signups.map((r) => ({
      kind: r.kind,
      requestedAt: r.created_at.toISOString(),
      email: r.email,
      topics: r.topics,
      timeZone: r.time_zone,
      ip: r.ip,
      userAgent: r.user_agent,
    })),
    deliveries: deliveries.map((d) => ({
      digestDate: String(d.digest_date),
      kind: d.kind,
      status: d.status,
      messageId: d.message_id,
      sentAt: iso(d.sent_at),
      reason: d.reason,
      smtpResponse: d.smtp_response,
    })),
    softBounces: softBounce
      ? { consecutive: softBounce.consecutive, firstAt: softBounce.first_at.toISOString(), lastAt: softBounce.last_at.toISOString(), lastResponse: softBounce.last_response }
      : null,
    papersReceived: papers.map((p) => ({ arxivId: p.arxiv_id, sentAt: p.sent_at.toISOString() })),
  };
}
