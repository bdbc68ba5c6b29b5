import { sql, type Kysely } from 'kysely';

// Frozen in time: never edit a migration that has shipped; add a new one.
export async function up(db: Kysely<any>): Promise<void> {
  // Two indexes of the ledger that others already cover. Every row a run plans writes each index,
  // and so does every change of status (status is indexed, so no update is HOT).
  // - (subscriber_id): the prefix of the unique (subscriber_id, edition_id) serves the same lookups.
  // - unique (run_id, subscriber_id): a run belongs to one edition, so unique (subscriber_id,
  //   edition_id) already allows one row per reader and run.
  await sql`drop index if exists deliveries_subscriber_idx`.execute(db);
  await sql`alter table deliveries drop constraint if exists deliveries_run_subscriber_key`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table deliveries add constraint deliveries_run_subscriber_key unique (run_id, subscriber_id)`.execute(db);
  await sql`create index deliveries_subscriber_idx on deliveries (subscriber_id)`.execute(db);
}
