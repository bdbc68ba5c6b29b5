import { sql, type Kysely } from 'kysely';

// Frozen in time: never edit a migration that has shipped; add a new one.
// Signed webhook calls seen (Mailgun's token): a replay of a captured call is refused
// (src/inbound/webhooks/). Rows older than the signature window are pruned by the report processor.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create table webhook_replay (key text primary key, seen_at timestamptz not null default now())`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table webhook_replay`.execute(db);
}
