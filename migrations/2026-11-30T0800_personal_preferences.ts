import { sql, type Kysely } from 'kysely';

// Frozen in time: never edit a migration that has shipped; add a new one.
// What a reader chooses for their own digest (issue #10): the local hour it arrives (in
// subscribers.time_zone, an IANA name checked by the application through Intl, since Postgres's
// zone list is not Node's), whether only their topics are sent, a pause, and how many papers.
// topics, frequency ('daily' | 'weekly') and time_zone (default 'UTC') exist since 0001.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    alter table subscribers
      add column delivery_hour smallint not null default 8
        constraint subscribers_delivery_hour_check check (delivery_hour between 0 and 23),
      add column only_my_topics boolean not null default false,
      add column paused_until date,
      add column papers_per_digest smallint not null default 10
        constraint subscribers_papers_per_digest_check check (papers_per_digest between 3 and 30)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    alter table subscribers
      drop column delivery_hour,
      drop column only_my_topics,
      drop column paused_until,
      drop column papers_per_digest`.execute(db);
}
