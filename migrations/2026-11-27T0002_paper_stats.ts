import { sql, type Kysely } from 'kysely';

// Frozen in time: never edit a migration that has shipped; add a new one.
export async function up(db: Kysely<any>): Promise<void> {
  // arXiv enrichment and the optional Daily Papers fields. Defaults keep existing rows valid, and
  // adding columns with constant defaults does not rewrite the table.
  await db.schema
    .alterTable('papers')
    .addColumn('categories', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
    .addColumn('primary_category', 'text')
    .addColumn('doi', 'text')
    .addColumn('ai_summary', 'text')
    .addColumn('ai_keywords', sql`text[]`)
    .addColumn('github_stars', 'integer')
    .execute();

  // One row per paper per poll. The primary key doubles as the growth-lookup index: "latest
  // snapshot of paper X at or before time T" is a backward scan on (arxiv_id, captured_at), and
  // INCLUDE makes it index-only (no heap visit per candidate paper in the trending query).
  await db.schema
    .createTable('paper_stats')
    .addColumn('arxiv_id', 'text', (c) => c.notNull().references('papers.arxiv_id').onDelete('cascade'))
    .addColumn('captured_at', 'timestamptz', (c) => c.notNull())
    .addColumn('upvotes', 'integer', (c) => c.notNull().check(sql`upvotes >= 0`))
    .addColumn('comments', 'integer', (c) => c.notNull().check(sql`comments >= 0`))
    .execute();
  await sql`alter table paper_stats add constraint paper_stats_pkey primary key (arxiv_id, captured_at) include (upvotes, comments)`.execute(
    db,
  );
  // Pruning old snapshots deletes by time across all papers.
  await db.schema.createIndex('paper_stats_captured_at_idx').on('paper_stats').column('captured_at').execute();

  // Trending reads the last N featured days of papers that are not withdrawn; the partial index
  // keeps that range scan to live papers and carries the score inputs.
  await sql`create index papers_trending_window_idx on papers (featured_on) include (upvotes, comments) where withdrawn_at is null`.execute(
    db,
  );
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists papers_trending_window_idx`.execute(db);
  await db.schema.dropTable('paper_stats').ifExists().execute();
  await db.schema
    .alterTable('papers')
    .dropColumn('categories')
    .dropColumn('primary_category')
    .dropColumn('doi')
    .dropColumn('ai_summary')
    .dropColumn('ai_keywords')
    .dropColumn('github_stars')
    .execute();
}
