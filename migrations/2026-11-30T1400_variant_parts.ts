import { sql, type Kysely } from 'kysely';

// Frozen in time: never edit a migration that has shipped; add a new one.
// A variant of an edition is made of parts every variant shares (the edition's frame, section
// titles, paper cards, rendered once: src/editions/digest-splice.ts). Storing each variant's whole
// HTML wrote ~80 kB per variant and made every worker read, hash and encode it per variant; a
// variant is now a layout (its own short strings and the keys of its parts) and the parts are
// stored once per edition, keyed by their content, so planners that render the same part write
// the same row. Variants stored before this keep their html_template.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table edition_parts (
      edition_id bigint not null references editions (id) on delete cascade,
      key text not null,
      html text not null,
      primary key (edition_id, key)
    )`.execute(db);
  await sql`
    alter table edition_variants
      add column html_layout jsonb,
      alter column html_template drop not null,
      add constraint edition_variants_html check (html_template is not null or html_layout is not null)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`delete from edition_variants where html_template is null`.execute(db);
  await sql`
    alter table edition_variants
      drop constraint edition_variants_html,
      alter column html_template set not null,
      drop column html_layout`.execute(db);
  await sql`drop table edition_parts`.execute(db);
}
