import type { Generated, Selectable } from 'kysely';

export type ReportSource = 'smtp' | 'ses' | 'postmark' | 'mailgun';
/** What the address it came to (or the webhook) says the report is about. */
export type ReportPurpose = 'bounce' | 'unsubscribe' | 'feedback' | 'webhook';

/**
 * One inbound report (a DSN, an ARF complaint, a mailto: unsubscribe, a relay's webhook event),
 * stored before it is acknowledged and processed from here (src/inbound/processor.ts).
 */
export interface InboundReportsTable {
  id: Generated<number>;
  received_at: Generated<Date>;
  source: ReportSource;
  remote_ip: string | null;
  envelope_from: string | null;
  recipient: string | null;
  purpose: ReportPurpose | null;
  /** Linked at receipt from the signed recipient address, or while processing from the report. */
  delivery_id: number | null;
  /** The message or request body as received; cleared after INBOUND_RAW_DAYS. */
  raw: Buffer | null;
  raw_bytes: Generated<number>;
  processed_at: Date | null;
  attempts: Generated<number>;
  /** What the report turned out to be: hard_bounce, soft_bounce, complaint, unsubscribe, ignored… */
  kind: string | null;
  /** What processing did, for an operator reading the table. */
  outcome: string | null;
}

export type InboundReport = Selectable<InboundReportsTable>;

export interface WebhookReplayTable {
  /** `provider:token` of a signed call already accepted. */
  key: string;
  seen_at: Generated<Date>;
}
