import { sql, type Kysely } from 'kysely';

// Frozen in time: never edit a migration that has shipped; add a new one.
export async function up(db: Kysely<any>): Promise<void> {
  // Topic matching (src/papers/topic-search.ts) asks for the papers of a window of featured days
  // whose `search` matches a tsquery. With a GIN index on `search` alone and a btree on
  // featured_on, PostgreSQL built a bitmap of every match in the whole table (7,000 of 100,000
  // papers for one word), another of every paper in the window, and intersected them; a phrase
  // query skipped the window bitmap and rechecked each match's out-of-line `search` instead.
  // One GIN index over both columns intersects the window's day entries with the tsquery's while
  // scanning: a few hundred entries instead of some 15,000. The days go in as a one-element array
  // (array_ops, built in) because GIN answers `&&` on it natively; btree_gin's range on a date
  // column cost more than the two bitmaps (measured). Conditions on `search` alone use this index
  // too, so the former one goes.
  await sql`create index papers_day_search_idx on papers using gin ((array[featured_on]), search)`.execute(db);
  await sql`drop index if exists papers_search_idx`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`create index if not exists papers_search_idx on papers using gin (search)`.execute(db);
  await sql`drop index if exists papers_day_search_idx`.execute(db);
}
