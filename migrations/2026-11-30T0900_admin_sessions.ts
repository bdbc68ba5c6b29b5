import { sql, type Kysely } from 'kysely';

// Frozen in time: never edit a migration that has shipped; add a new one.
// Admin console sessions (src/admin/session.ts). Only the hash of the cookie's token is stored, so
// a database leak does not hand out signed-in sessions; deleting the row signs the session out.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table admin_sessions (
      id bigint generated always as identity primary key,
      token_hash bytea not null unique,
      created_at timestamptz not null default now(),
      expires_at timestamptz not null
    )`.execute(db);
  await sql`create index admin_sessions_expires_idx on admin_sessions (expires_at)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table admin_sessions`.execute(db);
}
