import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../../src/db/database.ts';
import { testPostgresBase } from '../helpers/db.ts';

describe('database connections (src/db/database.ts)', () => {
  const db = createDatabase(testPostgresBase, { max: 4 });
  afterAll(() => db.destroy());

  it('runs every statement without JIT, the first one of a new connection too', async () => {
    // Four statements at once: each on a connection of its own, just opened.
    const settings = await Promise.all(Array.from({ length: 4 }, () => sql<{ jit: string }>`show jit`.execute(db)));
    expect(settings.map((r) => r.rows[0]!.jit)).toEqual(['off', 'off', 'off', 'off']);
  });
});
