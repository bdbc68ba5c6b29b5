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
    consent: unknown;
    confirmedAt: string | null;
    unsubscribedAt: string | null;
    unsubscribeSource: string | null;
    bounceCount: number;
    lastBounceAt: string | null;
    createdAt: string;
    updatedAt: string;
  };
  deliveries: { digestDate: string; kind: string; status: string; messageId: string | null; sentAt: string | null; reason: string | null; smtpResponse: string | null }[];
  softBounces: { consecutive: number; firstAt: string; lastAt: string; lastResponse: string | null } | null;
  papersReceived: { arxivId: string; sentAt: string }[];
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/**
 * Everything stored about one person (GDPR Art. 15/20), and nobody else's data: every query is
 * keyed on the one subscriber id. Reads the delivery ledger directly because the export must be
 * complete and it is read-only; the delivery folder still owns every write to those tables.
 */
export async function collectPersonalData(db: Executor, subscriber: Subscriber): Promise<PersonalDataExport> {
  const [deliveries, papers, softBounce] = await Promise.all([
    db
      .selectFrom('deliveries')
      .innerJoin('editions', 'editions.id', 'deliveries.edition_id')
      .select(['editions.digest_date', 'editions.kind', 'deliveries.status', 'deliveries.message_id', 'deliveries.sent_at', 'deliveries.reason', 'deliveries.smtp_response'])
      .where('deliveries.subscriber_id', '=', subscriber.id)
      .orderBy('deliveries.id')
      .execute(),
    db.selectFrom('sent_papers').select(['arxiv_id', 'sent_at']).where('subscriber_id', '=', subscriber.id).orderBy('sent_at').orderBy('arxiv_id').execute(),
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
      consent: subscriber.consent,
      confirmedAt: iso(subscriber.confirmed_at),
      unsubscribedAt: iso(subscriber.unsubscribed_at),
      unsubscribeSource: subscriber.unsubscribe_source,
      bounceCount: subscriber.bounce_count,
      lastBounceAt: iso(subscriber.last_bounce_at),
      createdAt: subscriber.created_at.toISOString(),
      updatedAt: subscriber.updated_at.toISOString(),
    },
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
