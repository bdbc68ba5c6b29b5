import { sql, type Kysely } from 'kysely';

// Frozen in time: never edit a migration that has shipped; add a new one.
// Consent becomes an append-only history instead of one JSON record that every sign-up
// overwrote; a sign-up becomes a request that changes the person only once it is confirmed.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table consent_events (
      id bigint generated always as identity primary key,
      subscriber_id bigint not null references subscribers (id) on delete cascade,
      kind text not null check (kind in ('subscribed', 'resubscribed', 'confirmed', 'unsubscribed', 'imported', 'bounced', 'merged')),
      occurred_at timestamptz not null default now(),
      ip text,
      user_agent text,
      source text
    )`.execute(db);
  await sql`create index consent_events_subscriber_idx on consent_events (subscriber_id, occurred_at, id)`.execute(db);

  // What the old single record held, as events. Timestamps written by the application are ISO
  // 8601; anything else falls back to the row's own times rather than failing the migration.
  const isoOr = (field: string, fallback: string) =>
    sql.raw(`case when consent->>'${field}' ~ '^\\d{4}-\\d{2}-\\d{2}T' then (consent->>'${field}')::timestamptz else ${fallback} end`);
  await sql`
    insert into consent_events (subscriber_id, kind, occurred_at, ip, user_agent, source)
    select id, 'subscribed', ${isoOr('subscribedAt', 'created_at')}, consent->>'ip', consent->>'userAgent', consent->>'form'
    from subscribers where consent is not null`.execute(db);
  await sql`
    insert into consent_events (subscriber_id, kind, occurred_at, source)
    select id, 'imported', created_at, 'before the consent history' from subscribers where consent is null`.execute(db);
  await sql`
    insert into consent_events (subscriber_id, kind, occurred_at, ip, user_agent, source)
    select id, 'confirmed', confirmed_at, consent->>'confirmIp', consent->>'confirmUserAgent', 'confirmation link'
    from subscribers where confirmed_at is not null`.execute(db);
  await sql`
    insert into consent_events (subscriber_id, kind, occurred_at, source)
    select id, 'unsubscribed', unsubscribed_at, unsubscribe_source from subscribers where unsubscribed_at is not null`.execute(db);
  await sql`
    insert into consent_events (subscriber_id, kind, occurred_at, source)
    select id, 'bounced', coalesce(last_bounce_at, updated_at), 'hard bounce' from subscribers where status = 'bounced'`.execute(db);
  await sql`alter table subscribers drop column consent`.execute(db);

  // Append-only: history is added to, never rewritten. Rows go only with the person (erasure).
  await sql`
    create function consent_events_append_only() returns trigger language plpgsql as $$
    begin
      raise exception 'consent_events is append-only';
    end $$`.execute(db);
  await sql`create trigger consent_events_append_only before update on consent_events for each row execute function consent_events_append_only()`.execute(db);

  // A sign-up as asked for: nothing here touches the subscriber until a confirmation link that
  // carries this request is used.
  await sql`
    create table signup_requests (
      id bigint generated always as identity primary key,
      subscriber_id bigint not null references subscribers (id) on delete cascade,
      kind text not null check (kind in ('subscribed', 'resubscribed')),
      email text not null,
      topics text[] not null default '{}',
      time_zone text not null default 'UTC',
      ip text,
      user_agent text,
      source text,
      created_at timestamptz not null default now()
    )`.execute(db);
  await sql`create index signup_requests_subscriber_idx on signup_requests (subscriber_id, id)`.execute(db);
  await sql`alter table confirmation_tokens add column signup_request_id bigint references signup_requests (id) on delete set null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table confirmation_tokens drop column signup_request_id`.execute(db);
  await sql`drop table signup_requests`.execute(db);
  await sql`alter table subscribers add column consent jsonb`.execute(db);
  await sql`
    update subscribers s set consent = jsonb_strip_nulls(jsonb_build_object(
      'subscribedAt', e.occurred_at, 'ip', e.ip, 'userAgent', e.user_agent, 'form', e.source,
      'confirmedAt', s.confirmed_at))
    from (select distinct on (subscriber_id) * from consent_events where kind in ('subscribed', 'resubscribed') order by subscriber_id, occurred_at desc) e
    where e.subscriber_id = s.id`.execute(db);
  await sql`drop table consent_events`.execute(db);
  await sql`drop function consent_events_append_only()`.execute(db);
}
