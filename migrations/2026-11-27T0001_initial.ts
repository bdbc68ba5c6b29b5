import { sql, type Kysely } from 'kysely';

// Frozen in time: never edit a migration that has shipped; add a new one.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('papers')
    .addColumn('arxiv_id', 'text', (c) => c.primaryKey())
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('abstract', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('authors', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
    .addColumn('organization', 'text')
    .addColumn('published_at', 'timestamptz')
    .addColumn('featured_on', 'date')
    .addColumn('upvotes', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('comments', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('github_url', 'text')
    .addColumn('project_url', 'text')
    .addColumn('thumbnail_url', 'text')
    .addColumn('withdrawn_at', 'timestamptz')
    .addColumn('search', sql`tsvector`, (c) =>
      c.generatedAlwaysAs(
        sql`setweight(to_tsvector('english', coalesce(title, '')), 'A') || setweight(to_tsvector('english', coalesce(abstract, '')), 'B')`,
      ).stored(),
    )
    .addColumn('first_seen_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  // Serves "top of the day": featured day, then upvotes, comments, id.
  await sql`create index papers_featured_rank_idx on papers (featured_on, upvotes desc, comments desc, arxiv_id)`.execute(db);
  await sql`create index papers_search_idx on papers using gin (search)`.execute(db);

  await db.schema
    .createTable('subscribers')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    // Kept as entered (domain lower-cased, IDN in punycode); the unique index makes the domain
    // case-insensitive because the domain is normalised before it gets here.
    .addColumn('email', 'text', (c) => c.notNull().unique())
    .addColumn('status', 'text', (c) =>
      c.notNull().check(sql`status in ('pending', 'active', 'unsubscribed', 'bounced', 'complained')`),
    )
    .addColumn('topics', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
    .addColumn('frequency', 'text', (c) => c.notNull().defaultTo('daily').check(sql`frequency in ('daily', 'weekly')`))
    .addColumn('time_zone', 'text', (c) => c.notNull().defaultTo('UTC'))
    .addColumn('consent', 'jsonb')
    .addColumn('token_version', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('bounce_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_bounce_at', 'timestamptz')
    .addColumn('confirmed_at', 'timestamptz')
    .addColumn('unsubscribed_at', 'timestamptz')
    .addColumn('unsubscribe_source', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await sql`create index subscribers_active_idx on subscribers (id) where status = 'active'`.execute(db);

  await db.schema
    .createTable('confirmation_tokens')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('subscriber_id', 'bigint', (c) => c.notNull().references('subscribers.id').onDelete('cascade'))
    .addColumn('token_hash', 'bytea', (c) => c.notNull().unique())
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('used_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('confirmation_tokens_subscriber_idx').on('confirmation_tokens').column('subscriber_id').execute();

  await db.schema
    .createTable('editions')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('kind', 'text', (c) => c.notNull().defaultTo('daily').check(sql`kind in ('daily', 'weekly')`))
    .addColumn('digest_date', 'date', (c) => c.notNull())
    .addColumn('status', 'text', (c) =>
      c.notNull().check(sql`status in ('empty', 'ready', 'planning', 'sending', 'sent', 'paused')`),
    )
    .addColumn('paper_ids', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
    .addColumn('subject', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('html_template', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('text_template', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('planned_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('planned_at', 'timestamptz')
    .addColumn('finished_at', 'timestamptz')
    .addUniqueConstraint('editions_kind_date_key', ['kind', 'digest_date'])
    .execute();

  await db.schema
    .createTable('deliveries')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('edition_id', 'bigint', (c) => c.notNull().references('editions.id').onDelete('cascade'))
    .addColumn('subscriber_id', 'bigint', (c) => c.notNull().references('subscribers.id').onDelete('cascade'))
    .addColumn('status', 'text', (c) =>
      c.notNull().defaultTo('queued').check(sql`status in ('queued', 'sending', 'sent', 'failed', 'bounced', 'skipped', 'unknown')`),
    )
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('message_id', 'text')
    .addColumn('smtp_response', 'text')
    .addColumn('reason', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('sent_at', 'timestamptz')
    .addUniqueConstraint('deliveries_edition_subscriber_key', ['edition_id', 'subscriber_id'])
    .execute();
  await sql`create index deliveries_edition_status_idx on deliveries (edition_id, status, id)`.execute(db);
  await db.schema.createIndex('deliveries_subscriber_idx').on('deliveries').column('subscriber_id').execute();

  await db.schema
    .createTable('sent_papers')
    .addColumn('subscriber_id', 'bigint', (c) => c.notNull().references('subscribers.id').onDelete('cascade'))
    .addColumn('arxiv_id', 'text', (c) => c.notNull().references('papers.arxiv_id').onDelete('cascade'))
    .addColumn('edition_id', 'bigint', (c) => c.notNull().references('editions.id').onDelete('cascade'))
    .addColumn('sent_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('sent_papers_pkey', ['subscriber_id', 'arxiv_id'])
    .execute();

  // Development only: what the built-in capture SMTP server received, for the /dev/mail page.
  await db.schema
    .createTable('dev_mailbox')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('received_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('envelope_from', 'text', (c) => c.notNull())
    .addColumn('envelope_to', sql`text[]`, (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('raw', 'text', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['dev_mailbox', 'sent_papers', 'deliveries', 'editions', 'confirmation_tokens', 'subscribers', 'papers']) {
    await db.schema.dropTable(table).ifExists().execute();
  }
}
