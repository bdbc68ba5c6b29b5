import type { AdminSessionsTable } from '../admin/session.table.ts';
import type { DeliveriesTable, DeliveryWorkersTable, DevMailboxTable, SoftBouncesTable } from '../delivery/delivery.table.ts';
import type { SendRunsTable } from '../delivery/send-run.table.ts';
import type { EditionPapersTable } from '../editions/edition-papers.table.ts';
import type { EditionsTable } from '../editions/edition.table.ts';
import type { EditionPartsTable, EditionVariantsTable } from '../editions/variant.table.ts';
import type { InboundReportsTable, WebhookReplayTable } from '../inbound/inbound-report.table.ts';
import type { PapersTable, PaperStatsTable } from '../papers/paper.table.ts';
import type { ConfirmationTokensTable, ConsentEventsTable, DataAccessTokensTable, SignupRequestsTable, SubscribersTable, SuppressionsTable } from '../subscribers/subscriber.table.ts';

import type { ColumnType } from 'kysely';

/** Per-installation values (src/db/development-secret.ts). */
export interface InstanceSettingsTable {
  name: string;
  value: string;
  created_at: ColumnType<Date, Date | undefined, never>;
}

export interface DB {
  papers: PapersTable;
  paper_stats: PaperStatsTable;
  subscribers: SubscribersTable;
  confirmation_tokens: ConfirmationTokensTable;
  suppressions: SuppressionsTable;
  consent_events: ConsentEventsTable;
  signup_requests: SignupRequestsTable;
  data_access_tokens: DataAccessTokensTable;
  editions: EditionsTable;
  edition_papers: EditionPapersTable;
  edition_variants: EditionVariantsTable;
  edition_parts: EditionPartsTable;
  deliveries: DeliveriesTable;
  send_runs: SendRunsTable;
  dev_mailbox: DevMailboxTable;
  delivery_workers: DeliveryWorkersTable;
  soft_bounces: SoftBouncesTable;
  instance_settings: InstanceSettingsTable;
  admin_sessions: AdminSessionsTable;
  inbound_reports: InboundReportsTable;
  webhook_replay: WebhookReplayTable;
}
