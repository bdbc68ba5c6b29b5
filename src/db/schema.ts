import type { DeliveriesTable, DeliveryWorkersTable, DevMailboxTable, SentPapersTable, SoftBouncesTable } from '../delivery/delivery.table.ts';
import type { EditionsTable } from '../editions/edition.table.ts';
import type { PapersTable, PaperStatsTable } from '../papers/paper.table.ts';
import type { ConfirmationTokensTable, SubscribersTable, SuppressionsTable } from '../subscribers/subscriber.table.ts';

export interface DB {
  papers: PapersTable;
  paper_stats: PaperStatsTable;
  subscribers: SubscribersTable;
  confirmation_tokens: ConfirmationTokensTable;
  suppressions: SuppressionsTable;
  editions: EditionsTable;
  deliveries: DeliveriesTable;
  sent_papers: SentPapersTable;
  dev_mailbox: DevMailboxTable;
  delivery_workers: DeliveryWorkersTable;
  soft_bounces: SoftBouncesTable;
}
