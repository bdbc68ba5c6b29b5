import type { ColumnType, Generated, Selectable } from 'kysely';

export type SubscriberStatus = 'pending' | 'active' | 'unsubscribed' | 'bounced' | 'complained';

export interface ConsentRecord {
  subscribedAt: string;
  ip: string;
  userAgent: string | null;
  form: string;
  confirmedAt?: string;
  confirmIp?: string;
  confirmUserAgent?: string | null;
  /** Imported people: the file (or upload) and line, and for already-consented imports the operator's note. */
  importSource?: string;
  importLine?: number;
  consentNote?: string;
}

export interface SubscribersTable {
  id: Generated<number>;
  email: string;
  status: SubscriberStatus;
  topics: Generated<string[]>;
  frequency: Generated<'daily' | 'weekly'>;
  time_zone: Generated<string>;
  consent: ColumnType<ConsentRecord | null, string | null, string | null>;
  token_version: Generated<number>;
  bounce_count: Generated<number>;
  last_bounce_at: Date | null;
  confirmed_at: Date | null;
  unsubscribed_at: Date | null;
  unsubscribe_source: string | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface ConfirmationTokensTable {
  id: Generated<number>;
  subscriber_id: number;
  token_hash: Buffer;
  expires_at: Date;
  used_at: Date | null;
  created_at: Generated<Date>;
}

export type Subscriber = Selectable<SubscribersTable>;

export type SuppressionReason = 'erased';

/** An erased address, as sha256 only (see suppression.repository.ts). */
export interface SuppressionsTable {
  address_hash: Buffer;
  reason: SuppressionReason;
  created_at: Generated<Date>;
}
