import { sql, type Kysely } from 'kysely';

// Frozen in time: never edit a migration that has shipped; add a new one.
// Bounces, complaints and mailto: unsubscribes that arrive after the relay said 250 (src/inbound/):
// each report is stored here before the listener answers 250, then processed from this table,
// so a crash between the two loses nothing. A delivery may later be `complained` (RFC 5965 ARF),
// and a complaint suppresses the address like an operator does.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table inbound_reports (
      id bigserial primary key,
      received_at timestamptz not null default now(),
      source text not null check (source in ('smtp', 'ses', 'postmark', 'mailgun')),
      remote_ip text,
      envelope_from text,
      recipient text,
      -- What the recipient address (or the webhook) said it is about; null: not yet known.
      purpose text check (purpose in ('bounce', 'unsubscribe', 'feedback', 'webhook')),
      -- Null when the delivery was erased with its person (or never known).
      delivery_id bigint references deliveries (id) on delete set null,
      raw bytea,
      raw_bytes integer not null default 0,
      processed_at timestamptz,
      attempts integer not null default 0,
      kind text,
      outcome text
    )`.execute(db);
  await sql`create index inbound_reports_pending_idx on inbound_reports (id) where processed_at is null`.execute(db);
  await sql`create index inbound_reports_raw_age_idx on inbound_reports (received_at) where raw is not null`.execute(db);
  await sql`create index inbound_reports_delivery_idx on inbound_reports (delivery_id)`.execute(db);
  await sql`alter table deliveries drop constraint deliveries_status_check`.execute(db);
  await sql`alter table deliveries add constraint deliveries_status_check check (status in ('queued', 'sending', 'sent', 'failed', 'bounced', 'complained', 'skipped', 'unknown'))`.execute(db);
  await sql`alter table suppressions drop constraint suppressions_reason_check`.execute(db);
  await sql`alter table suppressions add constraint suppressions_reason_check check (reason in ('erased', 'operator', 'complaint'))`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`delete from suppressions where reason = 'complaint'`.execute(db);
  await sql`alter table suppressions drop constraint suppressions_reason_check`.execute(db);
  await sql`alter table suppressions add constraint suppressions_reason_check check (reason in ('erased', 'operator'))`.execute(db);
  await sql`update deliveries set status = 'sent' where status = 'complained'`.execute(db);
  await sql`alter table deliveries drop constraint deliveries_status_check`.execute(db);
  await sql`alter table deliveries add constraint deliveries_status_check check (status in ('queued', 'sending', 'sent', 'failed', 'bounced', 'skipped', 'unknown'))`.execute(db);
  await sql`drop table inbound_reports`.execute(db);
}
