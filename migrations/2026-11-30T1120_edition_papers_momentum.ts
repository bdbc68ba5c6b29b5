import { sql, type Kysely } from 'kysely';

// Frozen in time: never edit a migration that has shipped; add a new one.
export async function up(db: Kysely<any>): Promise<void> {
  // The momentum a card was mailed with ("+38 upvotes today"), kept with the other figures as
  // mailed so the archive pages show it after paper_stats snapshots are pruned.
  await sql`alter table edition_papers add column upvote_growth_24h integer not null default 0`.execute(db);
  // Editions built before: measured as src/papers/trending.ts findCardSignals does, as of the end
  // of the edition's last day (a weekly edition covers seven days), from the snapshots still kept.
  await sql`
    update edition_papers ep set upvote_growth_24h = g.growth
    from (
      select ep2.edition_id, ep2.position,
             coalesce(latest.upvotes - coalesce(day_ago.upvotes, earliest.upvotes), 0) as growth
      from edition_papers ep2
      join editions e on e.id = ep2.edition_id
      cross join lateral (
        select ((e.digest_date + case when e.kind = 'weekly' then 7 else 1 end)::timestamp at time zone 'UTC') as as_of
      ) w
      left join lateral (
        select s.upvotes from paper_stats s where s.arxiv_id = ep2.arxiv_id and s.captured_at <= w.as_of
        order by s.captured_at desc limit 1
      ) latest on true
      left join lateral (
        select s.upvotes from paper_stats s where s.arxiv_id = ep2.arxiv_id and s.captured_at <= w.as_of - interval '1 day'
        order by s.captured_at desc limit 1
      ) day_ago on true
      left join lateral (
        select s.upvotes from paper_stats s
        where s.arxiv_id = ep2.arxiv_id and s.captured_at > w.as_of - interval '1 day' and s.captured_at <= w.as_of
        order by s.captured_at asc limit 1
      ) earliest on true
    ) g
    where ep.edition_id = g.edition_id and ep.position = g.position and g.growth <> 0`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table edition_papers drop column if exists upvote_growth_24h`.execute(db);
}
