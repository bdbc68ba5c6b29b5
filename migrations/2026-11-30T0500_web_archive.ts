import { sql, type Kysely } from 'kysely';

// Frozen in time: never edit a migration that has shipped; add a new one.
export async function up(db: Kysely<any>): Promise<void> {
  // Full-text search weighted title (A) > Daily Papers AI keywords (B) > abstract (C), used by the
  // topic feeds (src/papers/topic-search.ts). array_to_string is only STABLE (it calls the element
  // type's output function), which a generated column refuses; for text[] the result never changes,
  // so a wrapper declared IMMUTABLE is sound.
  await sql`
    create function paper_keywords_text(keywords text[]) returns text
    language sql immutable parallel safe
    as $$ select coalesce(array_to_string(keywords, ' '), '') $$`.execute(db);
  // PostgreSQL 15 cannot change a generated column's expression in place: drop and add (the
  // table is rewritten once, and the GIN index rebuilt).
  await sql`drop index if exists papers_search_idx`.execute(db);
  await sql`alter table papers drop column search`.execute(db);
  await sql`
    alter table papers add column search tsvector generated always as (
      setweight(to_tsvector('english', coalesce(title, '')), 'A')
      || setweight(to_tsvector('english', paper_keywords_text(ai_keywords)), 'B')
      || setweight(to_tsvector('english', coalesce(abstract, '')), 'C')
    ) stored`.execute(db);
  await sql`create index papers_search_idx on papers using gin (search)`.execute(db);

  // An edition's selection as mailed: the section and position of each paper and the figures it
  // was mailed with (upvotes keep changing afterwards). The archive pages, the feeds and the JSON
  // API read it; it is written with the edition, once.
  await db.schema
    .createTable('edition_papers')
    .addColumn('edition_id', 'bigint', (c) => c.notNull().references('editions.id').onDelete('cascade'))
    .addColumn('position', 'integer', (c) => c.notNull().check(sql`position >= 1`))
    .addColumn('section', 'text', (c) => c.notNull().check(sql`section in ('top', 'trending', 'weekly')`))
    .addColumn('arxiv_id', 'text', (c) => c.notNull().references('papers.arxiv_id').onDelete('cascade'))
    .addColumn('upvotes', 'integer', (c) => c.notNull())
    .addColumn('comments', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('edition_papers_pkey', ['edition_id', 'position'])
    .execute();

  // Editions built before this table: "top of the day" is the leading run of papers featured on
  // the digest's days (the day, and on a Monday the weekend before it; src/papers/trending.ts),
  // the rest is trending. The figures are the last snapshot taken before the edition was built,
  // or the paper's current ones when it has none.
  await sql`
    insert into edition_papers (edition_id, position, section, arxiv_id, upvotes, comments)
    select e.id, p.ord::int,
           case when bool_and(p.is_top) over (partition by e.id order by p.ord) then 'top' else 'trending' end,
           p.arxiv_id, p.upvotes, p.comments
    from editions e
    cross join lateral (
      select ids.ord, ids.arxiv_id,
             coalesce(snap.upvotes, papers.upvotes) as upvotes,
             coalesce(snap.comments, papers.comments) as comments,
             papers.featured_on between
               (e.digest_date - case when extract(isodow from e.digest_date) = 1 then 2 else 0 end)
               and e.digest_date as is_top
      from unnest(e.paper_ids) with ordinality as ids(arxiv_id, ord)
      join papers on papers.arxiv_id = ids.arxiv_id
      left join lateral (
        select s.upvotes, s.comments from paper_stats s
        where s.arxiv_id = ids.arxiv_id and s.captured_at <= e.created_at
        order by s.captured_at desc limit 1
      ) snap on true
    ) p
    where e.kind = 'daily'`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('edition_papers').ifExists().execute();
  await sql`drop index if exists papers_search_idx`.execute(db);
  await sql`alter table papers drop column search`.execute(db);
  await sql`
    alter table papers add column search tsvector generated always as (
      setweight(to_tsvector('english', coalesce(title, '')), 'A') || setweight(to_tsvector('english', coalesce(abstract, '')), 'B')
    ) stored`.execute(db);
  await sql`create index papers_search_idx on papers using gin (search)`.execute(db);
  await sql`drop function if exists paper_keywords_text(text[])`.execute(db);
}
