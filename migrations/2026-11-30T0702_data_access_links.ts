import { sql, type Kysely } from 'kysely';

// Frozen in time: never edit a migration that has shipped; add a new one.
// Short-lived links, mailed on request, that export or erase a person's data. Only the hash of
// the token is stored, like confirmation tokens.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table data_access_tokens (
      id bigint generated always as identity primary key,
      subscriber_id bigint not null references subscribers (id) on delete cascade,
      token_hash bytea not null unique,
      expires_at timestamptz not null,
      created_at timestamptz not null default now()
    )`.execute(db);
  await sql`create index data_access_tokens_subscriber_idx on data_access_tokens (subscriber_id, created_at)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table data_access_tokens`.execute(db);
}
