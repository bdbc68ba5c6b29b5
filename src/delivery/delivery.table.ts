import type { Generated, Selectable } from 'kysely';

/** queued → sending → sent | failed | bounced | skipped; a crash in `sending` ends as unknown. */
export type DeliveryStatus = 'queued' | 'sending' | 'sent' | 'failed' | 'bounced' | 'skipped' | 'unknown';

export interface DeliveriesTable {
  id: Generated<number>;
  edition_id: number;
  subscriber_id: number;
  status: Generated<DeliveryStatus>;
  attempts: Generated<number>;
  message_id: string | null;
  smtp_response: string | null;
  reason: string | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
  sent_at: Date | null;
}

export interface SentPapersTable {
  subscriber_id: number;
  arxiv_id: string;
  edition_id: number;
  sent_at: Generated<Date>;
}

export interface DevMailboxTable {
  id: Generated<number>;
  received_at: Generated<Date>;
  envelope_from: string;
  envelope_to: string[];
  subject: string;
  raw: string;
}

export type Delivery = Selectable<DeliveriesTable>;
