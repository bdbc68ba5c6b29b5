import { sql, type Kysely } from 'kysely';

// Frozen in time: never edit a migration that has shipped; add a new one.
//
// An edition keeps only its content (kind, day, selection, subject, rendered parts); everything
// about sending it moves to `send_runs`, one row per (edition, audience), and the ledger belongs
// to a run. Existing editions that were ever sendable get a run whose id is the edition's id, so
// deliveries keep their values and only the column is renamed (no rewrite of the ledger).
// `sent_papers` goes: what a person received is derived from delivery → run → edition.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('send_runs')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('edition_id', 'bigint', (c) => c.notNull().references('editions.id').onDelete('cascade'))
    // Who the run goes to; today every run goes to all active subscribers.
    .addColumn('audience', 'text', (c) => c.notNull().defaultTo('subscribers'))
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('ready', 'planning', 'sending', 'sent', 'paused')`))
    .addColumn('batch_size', 'integer')
    .addColumn('plan_started_at', 'timestamptz')
    .addColumn('plan_max_subscriber_id', 'bigint')
    .addColumn('plan_cursor', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('planned_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('planned_at', 'timestamptz')
    .addColumn('send_started_at', 'timestamptz')
    .addColumn('finished_at', 'timestamptz')
    .addColumn('enqueue_generation', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('policy_failures', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('pause_reason', 'text')
    .addColumn('paused_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('send_runs_edition_audience_key', ['edition_id', 'audience'])
    .execute();
  // The reconcile job looks only at runs in flight.
  await sql`create index send_runs_in_flight_idx on send_runs (id) where status in ('planning', 'sending')`.execute(db);

  await sql`
    insert into send_runs (id, edition_id, status, batch_size, plan_started_at, plan_max_subscriber_id, plan_cursor,
      planned_count, planned_at, send_started_at, finished_at, enqueue_generation, policy_failures, pause_reason, paused_at, created_at)
    select id, id, status, batch_size, plan_started_at, plan_max_subscriber_id, plan_cursor,
      planned_count, planned_at, send_started_at, finished_at, enqueue_generation, policy_failures, pause_reason, paused_at, created_at
    from editions where status <> 'empty'`.execute(db);
  // New runs are numbered after the migrated ones.
  await sql`select setval(pg_get_serial_sequence('send_runs', 'id'), coalesce((select max(id) from send_runs), 0) + 1, false)`.execute(db);

  await sql`alter table deliveries drop constraint deliveries_edition_id_fkey`.execute(db);
  await sql`alter table deliveries rename column edition_id to run_id`.execute(db);
  await sql`alter table deliveries add constraint deliveries_run_id_fkey foreign key (run_id) references send_runs (id) on delete cascade`.execute(db);
  await sql`alter table deliveries rename constraint deliveries_edition_subscriber_key to deliveries_run_subscriber_key`.execute(db);
  await sql`alter index deliveries_edition_status_idx rename to deliveries_run_status_idx`.execute(db);

  await db.schema.dropTable('sent_papers').execute();

  await sql`alter table editions drop constraint editions_status_check`.execute(db);
  await sql`update editions set status = 'ready' where status <> 'empty'`.execute(db);
  await sql`alter table editions add constraint editions_status_check check (status in ('empty', 'ready'))`.execute(db);
  await db.schema
    .alterTable('editions')
    .dropColumn('planned_count')
    .dropColumn('planned_at')
    .dropColumn('finished_at')
    .dropColumn('plan_started_at')
    .dropColumn('plan_max_subscriber_id')
    .dropColumn('plan_cursor')
    .dropColumn('send_started_at')
    .dropColumn('batch_size')
    .dropColumn('enqueue_generation')
    .dropColumn('policy_failures')
    .dropColumn('pause_reason')
    .dropColumn('paused_at')
    .dropColumn('sent_papers_recorded_at')
    .execute();
}

// Back to one table: each edition takes the state of its run (an edition has at most one before
// personal digests), and sent_papers is rebuilt from the ledger.
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('editions')
    .addColumn('planned_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('planned_at', 'timestamptz')
    .addColumn('finished_at', 'timestamptz')
    .addColumn('plan_started_at', 'timestamptz')
    .addColumn('plan_max_subscriber_id', 'bigint')
    .addColumn('plan_cursor', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('send_started_at', 'timestamptz')
    .addColumn('batch_size', 'integer')
    .addColumn('enqueue_generation', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('policy_failures', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('pause_reason', 'text')
    .addColumn('paused_at', 'timestamptz')
    .addColumn('sent_papers_recorded_at', 'timestamptz')
    .execute();
  await sql`alter table editions drop constraint editions_status_check`.execute(db);
  await sql`
    update editions e set status = r.status, planned_count = r.planned_count, planned_at = r.planned_at, finished_at = r.finished_at,
      plan_started_at = r.plan_started_at, plan_max_subscriber_id = r.plan_max_subscriber_id, plan_cursor = r.plan_cursor,
      send_started_at = r.send_started_at, batch_size = r.batch_size, enqueue_generation = r.enqueue_generation,
      policy_failures = r.policy_failures, pause_reason = r.pause_reason, paused_at = r.paused_at,
      sent_papers_recorded_at = case when r.status = 'sent' then r.finished_at end
    from send_runs r where r.edition_id = e.id`.execute(db);
  await sql`alter table editions add constraint editions_status_check check (status in ('empty', 'ready', 'planning', 'sending', 'sent', 'paused'))`.execute(db);

  await sql`alter index deliveries_run_status_idx rename to deliveries_edition_status_idx`.execute(db);
  await sql`alter table deliveries rename constraint deliveries_run_subscriber_key to deliveries_edition_subscriber_key`.execute(db);
  await sql`alter table deliveries drop constraint deliveries_run_id_fkey`.execute(db);
  await sql`alter table deliveries rename column run_id to edition_id`.execute(db);
  await sql`update deliveries d set edition_id = r.edition_id from send_runs r where r.id = d.edition_id and r.edition_id <> r.id`.execute(db);
  await sql`alter table deliveries add constraint deliveries_edition_id_fkey foreign key (edition_id) references editions (id) on delete cascade`.execute(db);

  await db.schema
    .createTable('sent_papers')
    .addColumn('subscriber_id', 'bigint', (c) => c.notNull().references('subscribers.id').onDelete('cascade'))
    .addColumn('arxiv_id', 'text', (c) => c.notNull().references('papers.arxiv_id').onDelete('cascade'))
    .addColumn('edition_id', 'bigint', (c) => c.notNull().references('editions.id').onDelete('cascade'))
    .addColumn('sent_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('sent_papers_pkey', ['subscriber_id', 'arxiv_id'])
    .execute();
  await sql`
    insert into sent_papers (subscriber_id, arxiv_id, edition_id, sent_at)
    select d.subscriber_id, p.arxiv_id, d.edition_id, coalesce(d.sent_at, now())
    from deliveries d join editions e on e.id = d.edition_id cross join lateral unnest(e.paper_ids) as p(arxiv_id)
    where d.status = 'sent' and exists (select 1 from papers where papers.arxiv_id = p.arxiv_id)
    order by d.sent_at
    on conflict (subscriber_id, arxiv_id) do nothing`.execute(db);
  await db.schema.dropTable('send_runs').execute();
}
