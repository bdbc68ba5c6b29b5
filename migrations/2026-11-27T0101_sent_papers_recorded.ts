import { sql, type Kysely } from 'kysely';

// Frozen in time: never edit a migration that has shipped; add a new one.
export async function up(db: Kysely<any>): Promise<void> {
  // An edition is `sent` as soon as its last delivery is; who-got-which-papers is written after
  // (millions of rows for a big list), and this marks it done so a crash in between is repaired.
  await db.schema.alterTable('editions').addColumn('sent_papers_recorded_at', 'timestamptz').execute();
  await sql`update editions set sent_papers_recorded_at = finished_at where status = 'sent'`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('editions').dropColumn('sent_papers_recorded_at').execute();
}
