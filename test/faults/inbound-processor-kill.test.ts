import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { storeReports } from '../../src/inbound/inbound-report.repository.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { dsnFor, seedSentDeliveries } from '../helpers/inbound-seed.ts';
import { deleteQueuePrefix, testRedisUrl } from '../helpers/service.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { spawnPaperboy, stopAllWorkers } from '../helpers/worker-process.ts';

// Several batches of process-batch.ts, so the kill lands with some committed and some not.
const REPORTS = 2000;
const DOMAIN = 'bounces.papers.example.test';

describe('inbound processing survives a kill -9 mid-batch: no report lost, none applied twice', () => {
  let testDb: TestDatabase;
  const secret = randomBytes(32).toString('hex');
  const prefix = `pbtest-inbound-${randomBytes(4).toString('hex')}`;
  const env = () => ({
    NODE_ENV: 'test',
    DATABASE_URL: testDb.url,
    REDIS_URL: testRedisUrl,
    QUEUE_PREFIX: prefix,
    SECRET: secret,
    BOUNCE_DOMAIN: DOMAIN,
    INBOUND_PORT: '0',
    INBOUND_HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
  });
  beforeAll(async () => {
    testDb = await createTestDatabase();
  });
  afterEach(() => stopAllWorkers());
  afterAll(async () => {
    await testDb?.drop();
    await deleteQueuePrefix(testRedisUrl, prefix);
  });

  const count = async (where: 'processed' | 'pending') =>
    Number(
      (
        await testDb.db
          .selectFrom('inbound_reports')
          .select((eb) => eb.fn.countAll<string>().as('n'))
          .where('processed_at', where === 'processed' ? 'is not' : 'is', null)
          .executeTakeFirstOrThrow()
      ).n,
    );

  it('kills the processor part-way, restarts it, and ends with every delivery bounced exactly once', async () => {
    const { rows } = await seedSentDeliveries(testDb.db, REPORTS);
    const verp = { local: 'bounces', domain: DOMAIN, secrets: [secret] };
    // Stored as the listener stores them before its 250 (listener.ts).
    const reports = rows.map((row) => {
      const { returnPath, raw } = dsnFor(verp, row);
      return { source: 'smtp' as const, remoteIp: '192.0.2.1', envelopeFrom: '', recipient: returnPath, purpose: 'bounce' as const, deliveryId: row.deliveryId, raw: Buffer.from(raw, 'latin1') };
    });
    for (let i = 0; i < reports.length; i += 250) await storeReports(testDb.db, reports.slice(i, i + 250));

    const first = spawnPaperboy(env(), ['inbound']);
    await waitFor(async () => (await count('processed')) >= 50, { what: 'the first reports processed', timeoutMs: 60_000 });
    await first.kill('SIGKILL');
    const processedAtKill = await count('processed');
    expect(processedAtKill, first.output()).toBeLessThan(REPORTS);

    // Atomic per report: a processed report's delivery is bounced, an unprocessed one's is untouched.
    const mismatched = await sql<{ n: string }>`
      select count(*) as n from inbound_reports r join deliveries d on d.id = r.delivery_id
      where (r.processed_at is null) <> (d.status = 'sent')`.execute(testDb.db);
    expect(Number(mismatched.rows[0]!.n)).toBe(0);

    const second = spawnPaperboy(env(), ['inbound']);
    await waitFor(async () => (await count('pending')) === 0, { what: 'every report processed after the restart', timeoutMs: 120_000 });
    await second.kill('SIGTERM');

    const statuses = await testDb.db.selectFrom('deliveries').select(['status', (eb) => eb.fn.countAll<string>().as('n')]).groupBy('status').execute();
    expect(statuses.map((s) => [s.status, Number(s.n)])).toEqual([['bounced', REPORTS]]);
    const subscribers = await testDb.db.selectFrom('subscribers').select(['status', 'bounce_count', (eb) => eb.fn.countAll<string>().as('n')]).groupBy(['status', 'bounce_count']).execute();
    expect(subscribers.map((s) => [s.status, s.bounce_count, Number(s.n)])).toEqual([['bounced', 1, REPORTS]]);
    const events = await testDb.db.selectFrom('consent_events').select((eb) => eb.fn.countAll<string>().as('n')).where('kind', '=', 'bounced').executeTakeFirstOrThrow();
    expect(Number(events.n)).toBe(REPORTS);
    const kinds = await testDb.db.selectFrom('inbound_reports').select(['kind', 'attempts', (eb) => eb.fn.countAll<string>().as('n')]).groupBy(['kind', 'attempts']).execute();
    expect(kinds.map((k) => [k.kind, k.attempts, Number(k.n)])).toEqual([['hard_bounce', 1, REPORTS]]);
  }, 240_000);
});
