import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMigrator, migrateToLatest } from '../../src/db/migrate.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

describe('migrations 2026-11-30T0700_consent_history and T0701_case_insensitive_addresses', () => {
  let testDb: TestDatabase;
  beforeAll(async () => {
    testDb = await createTestDatabase({ migrate: false });
  });
  afterAll(async () => testDb?.drop());

  it('turns consent records into history and merges addresses that differ only in case, keeping the earliest consent', async () => {
    const migrator = createMigrator(testDb.db);
    expect((await migrator.migrateTo('2026-11-27T0200_suppressions')).error).toBeUndefined();
    const q = (text: TemplateStringsArray, ...values: unknown[]) => sql(text, ...values).execute(testDb.db);
    const consent = (at: string, ip: string, confirmedAt?: string) =>
      JSON.stringify({ subscribedAt: at, ip, userAgent: 'UA', form: 'web', ...(confirmedAt ? { confirmedAt, confirmIp: ip, confirmUserAgent: 'UA' } : {}) });
    // Dave: confirmed first as "Dave@", later "dave@" (active, other topics), "DAVE@" only pending.
    await q`insert into subscribers (email, status, topics, consent, confirmed_at, created_at)
      values ('Dave@example.org', 'unsubscribed', '{first}', ${consent('2025-01-01T00:00:00Z', '10.0.0.1', '2025-01-01T01:00:00Z')}::jsonb, '2025-01-01T01:00:00Z', '2025-01-01T00:00:00Z')`;
    await q`update subscribers set unsubscribed_at = '2025-02-01T00:00:00Z', unsubscribe_source = 'page' where email = 'Dave@example.org'`;
    await q`insert into subscribers (email, status, topics, consent, confirmed_at, created_at)
      values ('dave@example.org', 'active', '{second}', ${consent('2025-03-01T00:00:00Z', '10.0.0.2', '2025-03-01T01:00:00Z')}::jsonb, '2025-03-01T01:00:00Z', '2025-03-01T00:00:00Z')`;
    await q`insert into subscribers (email, status, consent, created_at) values ('DAVE@example.org', 'pending', ${consent('2025-04-01T00:00:00Z', '10.0.0.3')}::jsonb, '2025-04-01T00:00:00Z')`;
    await q`insert into subscribers (email, status) values ('other@example.org', 'active')`;
    // Two of the three got the same edition (the duplicate digest), one another edition.
    await q`insert into editions (digest_date, status) values ('2025-03-02', 'sent'), ('2025-03-03', 'sent')`;
    await q`insert into deliveries (edition_id, subscriber_id, status, message_id)
      select e.id, s.id, 'sent', s.email || e.digest_date from editions e, subscribers s
      where (e.digest_date = '2025-03-02' and s.email in ('Dave@example.org', 'dave@example.org')) or (e.digest_date = '2025-03-03' and s.email = 'dave@example.org')`;
    await q`insert into confirmation_tokens (subscriber_id, token_hash, expires_at) select id, sha256('t'::bytea), now() + interval '1 day' from subscribers where email = 'DAVE@example.org'`;
    const ids = (await q`select id, email from subscribers order by id`).rows as { id: number; email: string }[];
    const firstId = ids.find((r) => r.email === 'Dave@example.org')!.id;

    const result = await migrator.migrateTo('2026-11-30T0701_case_insensitive_addresses');
    expect(result.error).toBeUndefined();

    const people = (await q`select id, email, status, topics, confirmed_at, unsubscribed_at, mailbox from subscribers order by id`).rows as Record<string, unknown>[];
    expect(people).toHaveLength(2);
    // The earliest consent survives (its id, spelling and topics); the person's latest wish decides
    // the state: confirmed again (as dave@) after unsubscribing, so active.
    expect(people[0]).toMatchObject({ id: firstId, email: 'Dave@example.org', status: 'active', topics: ['first'], unsubscribed_at: null, mailbox: 'dave@example.org' });
    expect((people[0]!.confirmed_at as Date).toISOString()).toBe('2025-01-01T01:00:00.000Z');
    // One ledger row per edition, all on the survivor; the pending spelling's token moved along.
    const deliveries = (await q`select subscriber_id, message_id from deliveries order by id`).rows as { subscriber_id: string; message_id: string }[];
    expect(deliveries.map((d) => Number(d.subscriber_id))).toEqual([firstId, firstId]);
    expect(deliveries.map((d) => d.message_id).sort()).toEqual(['Dave@example.org2025-03-02', 'dave@example.org2025-03-03']);
    expect(Number(((await q`select subscriber_id from confirmation_tokens`).rows[0] as { subscriber_id: string }).subscriber_id)).toBe(firstId);
    // Every consent of every spelling is history now, oldest first, and the merge is recorded.
    const events = (await q`select kind, ip, occurred_at from consent_events where subscriber_id = ${firstId} order by occurred_at, id`).rows as { kind: string; ip: string | null }[];
    expect(events.map((e) => [e.kind, e.ip])).toEqual([
      ['subscribed', '10.0.0.1'],
      ['confirmed', '10.0.0.1'],
      ['unsubscribed', null],
      ['subscribed', '10.0.0.2'],
      ['confirmed', '10.0.0.2'],
      ['subscribed', '10.0.0.3'],
      ['merged', null],
    ]);
    expect((await q`select kind from consent_events e join subscribers s on s.id = e.subscriber_id where s.email = 'other@example.org'`).rows).toEqual([{ kind: 'imported' }]);
    // From now on the database refuses a second spelling.
    await expect(q`insert into subscribers (email, status) values ('dAVe@example.org', 'pending')`).rejects.toThrow(/duplicate key/);
    await migrateToLatest(testDb.db);
  });
});
