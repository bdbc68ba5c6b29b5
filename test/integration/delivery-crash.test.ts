import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config.ts';
import { countDeliveriesByStatus } from '../../src/delivery/delivery.repository.ts';
import { findSendRunById } from '../../src/delivery/send-run.repository.ts';
import type { Edition } from '../../src/editions/edition.table.ts';
import { createLogger } from '../../src/logger.ts';
import { importPapersFile, sampleDataFile } from '../../src/papers/import-file.ts';
import { createServices } from '../../src/app/services.ts';
import { createRedis, Queues } from '../../src/queue/queues.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { deleteQueuePrefix, testRedisUrl } from '../helpers/service.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { spawnWorker, stopAllWorkers, type WorkerProcess } from '../helpers/worker-process.ts';

// Enough rows that each drill strikes mid-send with most of the edition still to go: four kills
// at most 400 accepted messages apart, or a Redis flush after 1,000, leave at least 900 rows for the
// restarted worker, and ten windows of 250 for two workers to share.
const SUBSCRIBERS = 2_500;

/**
 * Real worker processes against a real SMTP server: killed with SIGKILL mid-send, sharing an
 * edition, losing their Redis state. Whatever happens, nobody gets a digest twice, and every
 * ledger row ends in a state that matches what the server accepted.
 */
describe('delivery survives crashes, Redis loss and concurrent workers', () => {
  let testDb: TestDatabase;
  let sink: SmtpSink;
  let env: Record<string, string>;
  let config: Config;
  let queues: Queues;
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    testDb = await createTestDatabase();
    await importPapersFile(testDb.db, sampleDataFile);
    await sql`insert into subscribers (email, status) select 'reader' || g || '@example.org', 'active' from generate_series(1, ${SUBSCRIBERS}) g`.execute(testDb.db);
    sink = await startSmtpSink({ parse: false });
    env = {
      NODE_ENV: 'test',
      DATABASE_URL: testDb.url,
      REDIS_URL: testRedisUrl,
      QUEUE_PREFIX: `pbcrash-${randomBytes(6).toString('hex')}`,
      SMTP_URL: sink.url,
      PUBLIC_URL: 'https://papers.example.test',
      MAIL_FROM: 'Paperboy <digest@papers.example.test>',
      SECRET: randomBytes(32).toString('hex'),
      LOAD_SAMPLE_DATA: 'false',
      INGEST_SCHEDULE: 'false',
      LOG_LEVEL: 'warn',
      SEND_RATE: '5000',
      SEND_BATCH_SIZE: '250',
      SEND_RETRY_DELAY_MS: '200',
      DELIVERY_LEASE_SECONDS: '2',
      RECONCILE_INTERVAL_SECONDS: '0.5',
      JOB_LOCK_SECONDS: '2',
      DOMAIN_MX_GROUPING: 'false',
    };
    config = loadConfig(env);
    queues = new Queues(createRedis({ url: testRedisUrl, role: 'producer' }), config.queuePrefix);
  });

  // A test that fails leaves none of its workers to claim rows in the next one.
  afterEach(async () => {
    await stopAllWorkers();
    workers.length = 0;
  });
  afterAll(async () => {
    await stopAllWorkers();
    await queues?.close();
    await queues?.connection.quit();
    await sink?.close();
    if (config) await deleteQueuePrefix(testRedisUrl, config.queuePrefix);
    await testDb?.drop();
  });

  const start = () => {
    const worker = spawnWorker(env);
    workers.push(worker);
    return worker;
  };
  /** The edition of `day` and the id of the run that sends it. */
  type Requested = Edition & { runId: number };
  const request = async (day: string): Promise<Requested> => {
    const { edition, run } = await createServices({ config, db: testDb.db, queues, log: createLogger('silent') }).requestDailyDigest(day);
    return { ...edition, runId: run!.id };
  };
  const waitUntilSent = (edition: Requested, what: string) =>
    waitFor(async () => (await findSendRunById(testDb.db, edition.runId))!.status === 'sent', { what, timeoutMs: 120_000, intervalMs: 200 });
  const acceptedFor = (edition: Requested) => [...sink.messageIds.entries()].filter(([id]) => id.startsWith(`<digest.e${edition.id}.`));

  /** Every row terminal; sent ⇔ exactly one accepted message; unknown ⇒ at most one; no duplicates. */
  async function expectConsistent(edition: Requested) {
    const rows = await testDb.db.selectFrom('deliveries').select(['subscriber_id', 'status']).where('run_id', '=', edition.runId).execute();
    expect(rows).toHaveLength(SUBSCRIBERS);
    const problems: string[] = [];
    for (const row of rows) {
      const n = sink.messageIds.get(`<digest.e${edition.id}.s${row.subscriber_id}@papers.example.test>`) ?? 0;
      if (row.status === 'sent' && n !== 1) problems.push(`subscriber ${row.subscriber_id}: sent but ${n} accepted`);
      else if (row.status === 'unknown' && n > 1) problems.push(`subscriber ${row.subscriber_id}: unknown and ${n} accepted`);
      else if (row.status !== 'sent' && row.status !== 'unknown') problems.push(`subscriber ${row.subscriber_id}: ${row.status}`);
    }
    const duplicates = acceptedFor(edition).filter(([, n]) => n > 1);
    expect(duplicates).toEqual([]);
    expect(problems.slice(0, 20)).toEqual([]);
    expect(acceptedFor(edition).length).toBeLessThanOrEqual(SUBSCRIBERS);
    return countDeliveriesByStatus(testDb.db, edition.runId);
  }

  it('SIGKILLs the worker at random points four times: no duplicate, every row sent or unknown', async () => {
    const edition = await request('2025-12-26');
    let worker = start();
    for (let kill = 0; kill < 4; kill++) {
      const target = acceptedFor(edition).length + 100 + Math.floor(Math.random() * 300);
      await waitFor(() => acceptedFor(edition).length >= target, { what: `progress before kill ${kill}`, timeoutMs: 150_000, intervalMs: 10 });
      await worker.kill('SIGKILL');
      worker = start();
    }
    await waitUntilSent(edition, 'edition sent after the kills').catch((error: Error) => {
      throw new Error(`${error.message}\nworker output:\n${worker.output()}`);
    });
    const counts = await expectConsistent(edition);
    expect(counts.sent + counts.unknown).toBe(SUBSCRIBERS);
    // Only what was in flight at each kill can be unknown: at most a few chunks per kill.
    expect(counts.unknown).toBeLessThanOrEqual(4 * 4 * 50);
    await worker.kill('SIGTERM');
  }, 400_000);

  it('finishes an edition from Postgres after its Redis keys are deleted mid-send, with no duplicate', async () => {
    const edition = await request('2025-12-25');
    const worker = start();
    await waitFor(() => acceptedFor(edition).length >= 1_000, { what: 'progress before the flush', timeoutMs: 150_000, intervalMs: 10 });
    // Only this test's prefix: other test files share the Redis server.
    await deleteQueuePrefix(testRedisUrl, config.queuePrefix);
    await waitUntilSent(edition, 'edition sent after the Redis flush').catch((error: Error) => {
      throw new Error(`${error.message}\nworker output:\n${worker.output()}`);
    });
    const counts = await expectConsistent(edition);
    expect(counts).toMatchObject({ sent: SUBSCRIBERS, unknown: 0 });
    await worker.kill('SIGTERM');
  }, 400_000);

  it('lets two worker processes share one edition without sending anything twice', async () => {
    const a = start();
    const b = start();
    const edition = await request('2025-12-24');
    await waitUntilSent(edition, 'edition sent by two workers').catch((error: Error) => {
      throw new Error(`${error.message}\nworker A:\n${a.output()}\nworker B:\n${b.output()}`);
    });
    const counts = await expectConsistent(edition);
    expect(counts).toMatchObject({ sent: SUBSCRIBERS, unknown: 0 });
    const claimers = await testDb.db.selectFrom('deliveries').select('claimed_by').distinct().where('run_id', '=', edition.runId).execute();
    expect(claimers).toHaveLength(2);
    await Promise.all([a.kill('SIGTERM'), b.kill('SIGTERM')]);
  }, 180_000);
});
