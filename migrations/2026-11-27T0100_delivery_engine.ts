import { sql, type Kysely } from 'kysely';

// Frozen in time: never edit a migration that has shipped; add a new one.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('editions')
    // Planning cutoff: subscribers who joined after planning started wait for the next edition,
    // and a planner that restarts after a crash continues from plan_cursor with the same cutoff.
    .addColumn('plan_started_at', 'timestamptz')
    .addColumn('plan_max_subscriber_id', 'bigint')
    .addColumn('plan_cursor', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('send_started_at', 'timestamptz')
    // Send batches are fixed windows of ledger ids; a re-enqueue after lost jobs gets a new
    // generation so its job ids never collide with completed jobs still kept in Redis.
    .addColumn('batch_size', 'integer')
    .addColumn('enqueue_generation', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('policy_failures', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('pause_reason', 'text')
    .addColumn('paused_at', 'timestamptz')
    .execute();

  await db.schema
    .alterTable('deliveries')
    .addColumn('claimed_by', 'text')
    .addColumn('claimed_at', 'timestamptz')
    .addColumn('enhanced_code', 'text')
    .execute();
  // The crash sweep looks only at rows in flight, a tiny part of the ledger.
  await sql`create index deliveries_sending_idx on deliveries (claimed_by) where status = 'sending'`.execute(db);

  // Liveness of sender processes: a `sending` row whose claimer stopped beating is `unknown`.
  await db.schema
    .createTable('delivery_workers')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('host', 'text', (c) => c.notNull())
    .addColumn('pid', 'integer', (c) => c.notNull())
    .addColumn('started_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('heartbeat_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  // Consecutive soft bounces (mailbox full and the like), counted once per edition and reset by
  // a successful delivery; enough of them spread over days suppress the address.
  await db.schema
    .createTable('soft_bounces')
    .addColumn('subscriber_id', 'bigint', (c) => c.primaryKey().references('subscribers.id').onDelete('cascade'))
    .addColumn('consecutive', 'integer', (c) => c.notNull())
    .addColumn('first_at', 'timestamptz', (c) => c.notNull())
    .addColumn('last_at', 'timestamptz', (c) => c.notNull())
    .addColumn('last_edition_id', 'bigint', (c) => c.notNull())
    .addColumn('last_response', 'text')
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('soft_bounces').ifExists().execute();
  await db.schema.dropTable('delivery_workers').ifExists().execute();
  await sql`drop index if exists deliveries_sending_idx`.execute(db);
  await db.schema.alterTable('deliveries').dropColumn('claimed_by').dropColumn('claimed_at').dropColumn('enhanced_code').execute();
  await db.schema
    .alterTable('editions')
    .dropColumn('plan_started_at')
    .dropColumn('plan_max_subscriber_id')
    .dropColumn('plan_cursor')
    .dropColumn('send_started_at')
    .dropColumn('batch_size')
    .dropColumn('enqueue_generation')
    .dropColumn('policy_failures')
    .dropColumn('pause_reason')
    .dropColumn('paused_at')
    .execute();
}
