import { sql, type Kysely } from 'kysely';

// Frozen in time: never edit a migration that has shipped; add a new one.
// Addresses become unique case-insensitively (Dave@, dave@ and DAVE@ are one person, by the
// usual convention for the local part; the domain always). Existing duplicates are merged into
// the row with the earliest consent; `mailbox` (lower-cased, `+tag` removed) keys the limits.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table consent_events disable trigger consent_events_append_only`.execute(db);
  await sql`
    do $$
    declare
      grp record;
      dups bigint[];
      keep_id bigint;
      fk record;
      merged text;
      s record;
      latest_unsub record;
    begin
      for grp in
        select lower(email) as address,
               array_agg(id order by confirmed_at asc nulls last, created_at, id) as ids
        from subscribers group by lower(email) having count(*) > 1
      loop
        keep_id := grp.ids[1];
        dups := grp.ids[2:];
        select bool_or(status = 'complained') as complained, bool_or(status = 'bounced') as bounced,
               bool_or(status = 'active') as any_active, bool_or(status = 'unsubscribed') as any_unsub,
               max(confirmed_at) filter (where status = 'active') as last_active_confirm,
               max(unsubscribed_at) filter (where status = 'unsubscribed') as last_unsub,
               min(confirmed_at) as first_confirm, sum(bounce_count) as bounces, max(last_bounce_at) as last_bounce
          into s from subscribers where id = any(grp.ids);
        -- Complaints and bounces win (never mail a suppressed mailbox again by accident); otherwise
        -- the person's latest wish: active if confirmed after the latest unsubscribe.
        merged := case
          when s.complained then 'complained'
          when s.bounced then 'bounced'
          when s.any_active and (s.last_unsub is null or s.last_active_confirm > s.last_unsub) then 'active'
          when s.any_unsub then 'unsubscribed'
          when s.any_active then 'active'
          else 'pending' end;
        select unsubscribed_at, unsubscribe_source into latest_unsub from subscribers
          where id = any(grp.ids) and unsubscribed_at is not null order by unsubscribed_at desc limit 1;

        -- One ledger row per send run and person: keep the survivor's (or the first) row of each run.
        delete from deliveries d using (
          select id, row_number() over (partition by run_id order by (subscriber_id = keep_id) desc, id) as rn
          from deliveries where subscriber_id = any(grp.ids)) r
        where d.id = r.id and r.rn > 1;
        -- Every table that refers to a subscriber (including ones added after this migration was
        -- written, e.g. by other features): move the duplicates' rows to the survivor; where that
        -- would break a uniqueness rule, the survivor's row stands and the duplicate's goes.
        for fk in
          select c.conrelid::regclass as tbl, a.attname as col
          from pg_constraint c join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
          where c.contype = 'f' and c.confrelid = 'subscribers'::regclass and array_length(c.conkey, 1) = 1
        loop
          begin
            execute format('update %s set %I = $1 where %I = any($2)', fk.tbl, fk.col, fk.col) using keep_id, dups;
          exception when unique_violation then
            execute format('delete from %s where %I = any($1)', fk.tbl, fk.col) using dups;
          end;
        end loop;

        update subscribers set
          status = merged,
          confirmed_at = s.first_confirm,
          unsubscribed_at = case when merged = 'unsubscribed' then latest_unsub.unsubscribed_at else null end,
          unsubscribe_source = case when merged = 'unsubscribed' then latest_unsub.unsubscribe_source else null end,
          bounce_count = s.bounces,
          last_bounce_at = s.last_bounce,
          updated_at = now()
        where id = keep_id;
        delete from subscribers where id = any(dups);
        insert into consent_events (subscriber_id, kind, source)
          values (keep_id, 'merged', format('%s addresses differing only in letter case merged into one', array_length(grp.ids, 1)));
      end loop;
    end $$`.execute(db);
  await sql`alter table consent_events enable trigger consent_events_append_only`.execute(db);

  await sql`alter table subscribers drop constraint if exists subscribers_email_key`.execute(db);
  await sql`create unique index subscribers_email_ci_key on subscribers (lower(email))`.execute(db);
  // The mailbox behind an address: lower-cased, sub-address (+tag) removed. Not unique (dave@ and
  // dave+news@ stay two subscriptions); rate limits and the confirmation cooldown count by it.
  await sql`
    alter table subscribers add column mailbox text generated always as (
      lower(coalesce(nullif(split_part(split_part(email, '@', 1), '+', 1), ''), split_part(email, '@', 1)) || '@' || split_part(email, '@', 2))
    ) stored`.execute(db);
  await sql`create index subscribers_mailbox_idx on subscribers (mailbox)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table subscribers drop column mailbox`.execute(db);
  await sql`drop index subscribers_email_ci_key`.execute(db);
  await sql`alter table subscribers add constraint subscribers_email_key unique (email)`.execute(db);
}
