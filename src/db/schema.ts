import type { DeliveriesTable, DevMailboxTable, SentPapersTable } from '../delivery/delivery.table.ts';
import type { EditionsTable } from '../editions/edition.table.ts';
import type { PapersTable } from '../papers/paper.table.ts';
import type { ConfirmationTokensTable, SubscribersTable } from '../subscribers/subscriber.table.ts';

export interface DB {
  papers: PapersTable;
  subscribers: SubscribersTable;
  confirmation_tokens: ConfirmationTokensTable;
  editions: EditionsTable;
  deliveries: DeliveriesTable;
  sent_papers: SentPapersTable;
  dev_mailbox: DevMailboxTable;
}
