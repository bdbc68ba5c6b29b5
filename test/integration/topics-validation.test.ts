import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findUnsearchableTopic, validateTopics } from '../../src/subscribers/topics.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

// The half of topic validation only PostgreSQL can do: whether websearch_to_tsquery('english', …)
// finds anything to search for in a topic.

let testDb: TestDatabase;
beforeAll(async () => {
  testDb = await createTestDatabase();
});
afterAll(async () => testDb?.drop());

describe('validateTopics against PostgreSQL', () => {
  it('accepts topics with words to search for, whatever their operators', async () => {
    const result = await validateTopics(testDb.db, 'diffusion, "robot learning" -survey, llm or vlm, c++, gpt-4o, über-netz');
    expect(result).toEqual({ ok: true, topics: ['diffusion', '"robot learning" -survey', 'llm or vlm', 'c++', 'gpt-4o', 'über-netz'] });
  });

  it('refuses a topic of stop words only (an empty query) and names it', async () => {
    expect(await validateTopics(testDb.db, 'diffusion, the of')).toEqual({
      ok: false,
      message: 'Topics: "the of" has nothing to look for (words like "the" or "of" are ignored). Use more specific words.',
    });
    expect(await findUnsearchableTopic(testDb.db, ['"the" -diffusion'])).toMatch(/nothing to look for/);
    expect(await findUnsearchableTopic(testDb.db, [])).toBeUndefined();
  });

  it('never lets a tsquery error reach the reader: every refusal is a message, every acceptance a valid query', async () => {
    const hostile = [
      '"', '""', '" "', '-', '--', '- -', 'or', 'or or or', '!', '&', '|', '(', ')', ':*', "'", "''", "a'b'c", 'a & !b', 'a <-> b',
      '<script>alert(1)</script>', "x'); drop table subscribers; --", 'a\u0000b', '\u202e', 'x'.repeat(10_000), '"a -"b"', '-"-"',
      '+', '#', '/', '.', '_', "'-'", 'a -', '"the" or "of"', 'ß', '\u0301',
    ];
    for (const input of hostile) {
      const result = await validateTopics(testDb.db, input);
      if (result.ok) {
        const { rows } = await sql<{ n: number }>`select count(*)::int as n from unnest(${result.topics}::text[]) t
          where numnode(websearch_to_tsquery('english', t)) > 0 and querytree(websearch_to_tsquery('english', t)) <> 'T'`.execute(testDb.db);
        expect(rows[0]!.n, JSON.stringify(input)).toBe(result.topics.length);
      } else {
        expect(result.message, JSON.stringify(input)).toMatch(/^Topics: /);
      }
    }
  });
});
