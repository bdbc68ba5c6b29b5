import { sql, type Kysely } from 'kysely';

// Frozen in time: never edit a migration that has shipped; add a new one.
// Transient failures wait their backoff in the ledger (src/delivery/retry.ts): a queued row is not
// claimed before `retry_at`; `retries` counts its transient failures (relay-wide ones included)
// and drives the exponential backoff; `failing_since` starts the retry window.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    alter table deliveries
      add column retry_at timestamptz,
      add column retries integer not null default 0,
      add column failing_since timestamptz`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table deliveries drop column retry_at, drop column retries, drop column failing_since`.execute(db);
}
