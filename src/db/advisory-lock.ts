import { sql } from 'kysely';
import type { Database, Executor } from './database.ts';

export type Locked<T> = { locked: true; value: T } | { locked: false };

/**
 * Runs `fn` while holding the Postgres advisory lock named `key`, or returns `{ locked: false }`
 * at once when another session holds it (try-lock: the caller steps aside, it never queues).
 *
 * By default the lock belongs to one pooled connection for the duration of `fn` (a session
 * lock, released in `finally`; if the process dies, the lock dies with its connection, so a
 * crashed holder never blocks the next one). With `transaction: true`, `fn` runs in a
 * transaction and the lock is released with its commit or rollback.
 */
export async function withAdvisoryLock<T>(
  db: Database,
  key: string,
  fn: (db: Executor) => Promise<T>,
  options: { transaction?: boolean } = {},
): Promise<Locked<T>> {
  if (options.transaction) {
    return db.transaction().execute(async (trx) => {
      const { rows } = await sql<{ ok: boolean }>`select pg_try_advisory_xact_lock(hashtext(${key})) as ok`.execute(trx);
      if (!rows[0]?.ok) return { locked: false };
      return { locked: true, value: await fn(trx) };
    });
  }
  return db.connection().execute(async (conn) => {
    const { rows } = await sql<{ ok: boolean }>`select pg_try_advisory_lock(hashtext(${key})) as ok`.execute(conn);
    if (!rows[0]?.ok) return { locked: false };
    try {
      return { locked: true, value: await fn(conn) };
    } finally {
      await sql`select pg_advisory_unlock(hashtext(${key}))`.execute(conn);
    }
  });
}

/**
 * Whether some session holds the advisory lock named `key` now, read from pg_locks without taking
 * it (a try-lock and release would make a holder arriving in between step aside). A bigint key
 * appears in pg_locks as its high and low 32 bits (classid, objid) with objsubid 1.
 */
export async function isAdvisoryLockHeld(db: Executor, key: string): Promise<boolean> {
  const { rows } = await sql<{ held: boolean }>`
    with k as (select hashtext(${key})::bigint as k)
    select exists (
      select 1 from pg_locks l, k
      where l.locktype = 'advisory' and l.granted and l.objsubid = 1
        and l.database = (select oid from pg_database where datname = current_database())
        and l.classid = ((k.k >> 32) & 4294967295)::oid and l.objid = (k.k & 4294967295)::oid
    ) as held`.execute(db);
  return rows[0]?.held ?? false;
}
