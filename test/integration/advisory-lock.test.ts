import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withAdvisoryLock } from '../../src/db/advisory-lock.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

describe('withAdvisoryLock', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase({ migrate: false });
  });
  afterAll(async () => t?.drop());

  const heldLocks = async () =>
    Number((await sql<{ n: number }>`select count(*)::int as n from pg_locks where locktype = 'advisory' and granted and database = (select oid from pg_database where datname = current_database())`.execute(t.db)).rows[0]!.n);

  for (const transaction of [false, true]) {
    describe(transaction ? 'transaction-scoped' : 'session-scoped', () => {
      it('lets a second caller for the same key step aside while the first holds it, and not one for another key', async () => {
        let release!: () => void;
        const holding = new Promise<void>((resolve) => (release = resolve));
        let entered!: () => void;
        const inside = new Promise<void>((resolve) => (entered = resolve));
        const first = withAdvisoryLock(
          t.db,
          `test:${transaction}:a`,
          async () => {
            entered();
            await holding;
            return 'first';
          },
          { transaction },
        );
        await inside;
        expect(await withAdvisoryLock(t.db, `test:${transaction}:a`, async () => 'second', { transaction })).toEqual({ locked: false });
        expect(await withAdvisoryLock(t.db, `test:${transaction}:b`, async () => 'other', { transaction })).toEqual({ locked: true, value: 'other' });
        release();
        expect(await first).toEqual({ locked: true, value: 'first' });
        expect(await withAdvisoryLock(t.db, `test:${transaction}:a`, async () => 'again', { transaction })).toEqual({ locked: true, value: 'again' });
        expect(await heldLocks()).toBe(0);
      });

      it('releases the lock when the work throws, and passes the error on', async () => {
        await expect(
          withAdvisoryLock(t.db, `test:${transaction}:throws`, async () => {
            throw new Error('boom');
          }, { transaction }),
        ).rejects.toThrow('boom');
        expect(await heldLocks()).toBe(0);
        expect(await withAdvisoryLock(t.db, `test:${transaction}:throws`, async () => 1, { transaction })).toEqual({ locked: true, value: 1 });
      });
    });
  }

  it('rolls back the work of a transaction-scoped holder that throws', async () => {
    await sql`create table lock_probe (n int)`.execute(t.db);
    await expect(
      withAdvisoryLock(t.db, 'test:rollback', async (trx) => {
        await sql`insert into lock_probe values (1)`.execute(trx);
        throw new Error('after the insert');
      }, { transaction: true }),
    ).rejects.toThrow('after the insert');
    expect((await sql<{ n: number }>`select count(*)::int as n from lock_probe`.execute(t.db)).rows[0]!.n).toBe(0);
  });
});
