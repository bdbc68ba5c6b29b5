import type { Generated, Selectable } from 'kysely';

/**
 * queued → sending → sent | failed | bounced | skipped; a crash in `sending` ends as unknown.
 * A later report (src/inbound/) may turn a sent row into bounced, failed or complained.
 */
export type DeliveryStatus = 'queued' | 'sending' | 'sent' | 'failed' | 'bounced' | 'complained' | 'skipped' | 'unknown';

export interface DeliveriesTable {
  id: Generated<number>;
  /** The send run this row belongs to (send_runs); its edition is the content. */
  run_id: number;
  subscriber_id: number;
  /** The run's edition (a trigger fills it when left out): one edition per person at most. */
  edition_id: Generated<number>;
  /** The variant sent (edition_variants); null: the edition's own content. */
  variant_id: number | null;
  status: Generated<DeliveryStatus>;
  attempts: Generated<number>;
  message_id: string | null;
  smtp_response: string | null;
  reason: string | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
  sent_at: Date | null;
  /** Which sender process moved the row to `sending` (see delivery_workers). */
  claimed_by: string | null;
  claimed_at: Date | null;
  /** RFC 3463 code parsed from the last SMTP reply, e.g. 5.1.1. */
  enhanced_code: string | null;
  /** A queued row is not claimed before this (backoff after a transient failure, retry.ts). */
  retry_at: Date | null;
  /** Transient failures so far, relay-wide ones included: the backoff's exponent. */
  retries: Generated<number>;
  /** The first transient failure of this row: the retry window counts from here. */
  failing_since: Date | null;
}

export interface DeliveryWorkersTable {
  id: string;
  host: string;
  pid: number;
  started_at: Generated<Date>;
  heartbeat_at: Generated<Date>;
}

export interface SoftBouncesTable {
  subscriber_id: number;
  consecutive: number;
  first_at: Date;
  last_at: Date;
  /** Counted once per edition. */
  last_edition_id: number;
  last_response: string | null;
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
