import { sql, type Kysely } from 'kysely';

// Frozen in time: never edit a migration that has shipped; add a new one.
export async function up(db: Kysely<any>): Promise<void> {
  // Topic relevance is ranked on the title (A) and the Daily Papers keywords (B) alone; the
  // abstract only decides whether a paper matches (src/papers/topic-search.ts). `search` holds
  // the abstract's positions too (~2.4 kB per paper, compressed out of line), so ranking on it
  // fetched and decompressed it for every match; this vector is ~170 bytes and stays in the row.
  await sql`
    alter table papers add column rank_search tsvector generated always as (
      setweight(to_tsvector('english', coalesce(title, '')), 'A')
      || setweight(to_tsvector('english', paper_keywords_text(ai_keywords)), 'B')
    ) stored`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table papers drop column if exists rank_search`.execute(db);
}
