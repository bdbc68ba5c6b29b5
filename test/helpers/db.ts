import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createDatabase, ensureDatabaseExists, type Database } from '../../src/db/database.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';

export const testPostgresBase = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  db: Database;
  url: string;
  name: string;
  /** Destroys the pool and drops the database. */
  drop(): Promise<void>;
}

/** A fresh, migrated database for one test file, so files can run in parallel in any order. */
export async function createTestDatabase(options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const name = `paperboy_test_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const url = new URL(testPostgresBase);
  url.pathname = `/${name}`;
  await ensureDatabaseExists(url.toString());
  const db = createDatabase(url.toString(), { max: 5 });
  if (options.migrate !== false) await migrateToLatest(db);
  return {
    db,
    url: url.toString(),
    name,
    async drop() {
      await db.destroy();
      const admin = new pg.Client({ connectionString: testPostgresBase });
      await admin.connect();
      try {
        await admin.query(`drop database if exists ${pg.escapeIdentifier(name)} with (force)`);
      } finally {
        await admin.end();
      }
    },
  };
}
