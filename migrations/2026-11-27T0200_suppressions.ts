import { sql, type Kysely } from 'kysely';

// Frozen in time: never edit a migration that has shipped; add a new one.
// What is left of an erased person: a hash of the address, so the address is not added again
// without a fresh double opt-in, and nothing that reads back as an address.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('suppressions')
    .addColumn('address_hash', 'bytea', (c) => c.primaryKey().check(sql`octet_length(address_hash) = 32`))
    .addColumn('reason', 'text', (c) => c.notNull().check(sql`reason in ('erased')`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('suppressions').ifExists().execute();
}
