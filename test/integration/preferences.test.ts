import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PreferenceError, updatePreferences } from '../../src/subscribers/preferences.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

describe('reader preferences (issue #10)', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(async () => t?.drop());

  const newReader = async (email: string) =>
    (await t.db.insertInto('subscribers').values({ email, status: 'active' }).returning('id').executeTakeFirstOrThrow()).id;

  it('gives a new reader the defaults: 08:00 UTC, daily, 10 papers, not paused, general section', async () => {
    const id = await newReader('defaults@example.com');
    const row = await t.db.selectFrom('subscribers').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    expect(row).toMatchObject({
      delivery_hour: 8,
      only_my_topics: false,
      paused_until: null,
      papers_per_digest: 10,
      frequency: 'daily',
      time_zone: 'UTC',
      topics: [],
    });
  });

  it('saves only the fields given and returns the saved row', async () => {
    const id = await newReader('save@example.com');
    const now = new Date('2025-12-22T10:00:00Z');
    const saved = await updatePreferences(
      t.db,
      id,
      { topics: ['robot learning', 'diffusion'], frequency: 'weekly', timeZone: 'Australia/Lord_Howe', deliveryHour: 6, pausedUntil: '2025-12-31' },
      now,
    );
    expect(saved).toMatchObject({
      topics: ['robot learning', 'diffusion'],
      frequency: 'weekly',
      time_zone: 'Australia/Lord_Howe',
      delivery_hour: 6,
      paused_until: '2025-12-31',
      only_my_topics: false,
      papers_per_digest: 10,
    });
    const again = await updatePreferences(t.db, id, { onlyMyTopics: true, papersPerDigest: 30, pausedUntil: null }, now);
    expect(again).toMatchObject({ topics: ['robot learning', 'diffusion'], only_my_topics: true, papers_per_digest: 30, paused_until: null, delivery_hour: 6 });
  });

  it.each([
    [{ deliveryHour: 25 }, 'deliveryHour'],
    [{ deliveryHour: 7.5 }, 'deliveryHour'],
    [{ papersPerDigest: 2 }, 'papersPerDigest'],
    [{ papersPerDigest: 31 }, 'papersPerDigest'],
    [{ timeZone: 'Mars/Olympus_Mons' }, 'timeZone'],
    [{ timeZone: 'x'.repeat(10_000) }, 'timeZone'],
    [{ frequency: 'hourly' as 'daily' }, 'frequency'],
    [{ pausedUntil: '2025-12-21' }, 'pausedUntil'],
    [{ pausedUntil: '2025-02-30' }, 'pausedUntil'],
  ])('refuses %j with a message for field %s and changes nothing', async (prefs, field) => {
    const id = await newReader(`refuse-${field}-${Math.random().toString(36).slice(2)}@example.com`);
    const before = await t.db.selectFrom('subscribers').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    const attempt = updatePreferences(t.db, id, { ...prefs, topics: ['should not be saved'] }, new Date('2025-12-22T10:00:00Z'));
    await expect(attempt).rejects.toBeInstanceOf(PreferenceError);
    await expect(attempt).rejects.toMatchObject({ field, statusCode: 400 });
    const after = await t.db.selectFrom('subscribers').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    expect(after).toEqual(before);
  });

  it('judges "a pause date in the past" by the day in the reader\'s new zone', async () => {
    const id = await newReader('pause-zone@example.com');
    // 2025-12-22T20:00Z is already 23 December in Tokyo, still the 22nd in UTC.
    const now = new Date('2025-12-22T20:00:00Z');
    await expect(updatePreferences(t.db, id, { timeZone: 'Asia/Tokyo', pausedUntil: '2025-12-22' }, now)).rejects.toMatchObject({ field: 'pausedUntil' });
    await expect(updatePreferences(t.db, id, { pausedUntil: '2025-12-22' }, now)).resolves.toMatchObject({ paused_until: '2025-12-22' });
  });

  it('returns undefined for a reader that does not exist', async () => {
    expect(await updatePreferences(t.db, 999_999, { deliveryHour: 9 })).toBeUndefined();
  });

  it('the database itself refuses an hour or a paper count out of range', async () => {
    const id = await newReader('db-check@example.com');
    await expect(sql`update subscribers set delivery_hour = 24 where id = ${id}`.execute(t.db)).rejects.toThrow(/subscribers_delivery_hour_check/);
    await expect(sql`update subscribers set papers_per_digest = 2 where id = ${id}`.execute(t.db)).rejects.toThrow(/subscribers_papers_per_digest_check/);
  });
});
