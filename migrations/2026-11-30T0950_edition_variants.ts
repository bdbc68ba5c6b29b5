import { sql, type Kysely } from 'kysely';

// Frozen in time: never edit a migration that has shipped; add a new one.
// Personal digests (issue #10). Readers with the same selection share a variant of the edition:
// its papers, the "For you" topic of each, and its rendered templates, built once. The ledger
// names the variant each reader got (null: the edition's own content), so what a person received
// stays derivable (delivery → variant or edition → papers) without a row per person and paper.
// deliveries.edition_id (filled from the run when an insert leaves it out) makes one edition,
// i.e. one period, reach a person at most once, whichever run (send --date, an hourly tick, a
// welcome) planned it.
export async function up(db: Kysely<any>): Promise<void> {
  // The ranked candidates an edition was built from, fixed with it, so every variant of it is
  // cut from the same lists (a reader who already got a paper gets the next one instead).
  await sql`alter table editions add column top_pool text[], add column trending_pool text[]`.execute(db);
  await sql`
    create table edition_variants (
      id bigint generated always as identity primary key,
      edition_id bigint not null references editions (id) on delete cascade,
      selection_key text not null,
      paper_ids text[] not null,
      for_you jsonb not null default '[]',
      subject text not null,
      html_template text not null,
      text_template text not null,
      created_at timestamptz not null default now(),
      constraint edition_variants_selection_key unique (edition_id, selection_key)
    )`.execute(db);
  await sql`
    alter table deliveries
      add column edition_id bigint references editions (id) on delete cascade,
      add column variant_id bigint references edition_variants (id) on delete cascade`.execute(db);
  await sql`update deliveries d set edition_id = r.edition_id from send_runs r where r.id = d.run_id`.execute(db);
  await sql`alter table deliveries alter column edition_id set not null`.execute(db);
  await sql`
    create function deliveries_edition_from_run() returns trigger language plpgsql as $$
    begin
      new.edition_id := (select edition_id from send_runs where id = new.run_id);
      return new;
    end $$`.execute(db);
  await sql`
    create trigger deliveries_edition_from_run before insert on deliveries
    for each row when (new.edition_id is null) execute function deliveries_edition_from_run()`.execute(db);
  // Also the index behind "what did this person receive" (the repeat filter, the data export).
  await sql`create unique index deliveries_subscriber_edition_key on deliveries (subscriber_id, edition_id)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop trigger deliveries_edition_from_run on deliveries`.execute(db);
  await sql`drop function deliveries_edition_from_run()`.execute(db);
  await sql`alter table deliveries drop column variant_id, drop column edition_id`.execute(db);
  await sql`drop table edition_variants`.execute(db);
  await sql`alter table editions drop column top_pool, drop column trending_pool`.execute(db);
}
