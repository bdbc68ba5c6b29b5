import { sql, type Kysely } from 'kysely';

// Frozen in time: never edit a migration that has shipped; add a new one.
// An operator may suppress an address from the admin console (src/subscribers/subscription.service.ts
// suppressSubscriber): a second suppression reason beside erasure.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table suppressions drop constraint suppressions_reason_check`.execute(db);
  await sql`alter table suppressions add constraint suppressions_reason_check check (reason in ('erased', 'operator'))`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`delete from suppressions where reason = 'operator'`.execute(db);
  await sql`alter table suppressions drop constraint suppressions_reason_check`.execute(db);
  await sql`alter table suppressions add constraint suppressions_reason_check check (reason in ('erased'))`.execute(db);
}
