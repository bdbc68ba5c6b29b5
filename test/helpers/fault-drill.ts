import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { expect } from 'vitest';
import { loadConfig, type Config } from '../../src/config.ts';
import { createServices } from '../../src/app/services.ts';
import { findSendRunById } from '../../src/delivery/send-run.repository.ts';
import { createLogger } from '../../src/logger.ts';
import { importPapersFile, sampleDataFile } from '../../src/papers/import-file.ts';
import { createRedis, Queues } from '../../src/queue/queues.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';
import { startFaultSink, type FaultScript, type FaultSink } from './fault-sink.ts';
import { deleteQueuePrefix, testRedisUrl } from './service.ts';
import { waitFor } from './wait-for.ts';
import { spawnWorker, type WorkerProcess } from './worker-process.ts';

export const FINAL_STATUSES = ['sent', 'failed', 'bounced', 'skipped', 'unknown'];

/**
 * One fault drill: its own database with `subscribers` active readers and the sample papers, a
 * scripted SMTP relay, a BullMQ prefix, and real `paperboy worker` processes configured only
 * through their environment. `stop()` kills every process it started and removes everything.
 */
/** A sending of one edition: its run (ledger rows belong to it) and the edition (Message-IDs name it). */
export interface DrillRun {
  id: number;
  editionId: number;
}

export interface FaultDrill {
  testDb: TestDatabase;
  sink: FaultSink;
  env: Record<string, string>;
  config: Config;
  queues: Queues;
  workers: WorkerProcess[];
  startWorker(extraEnv?: Record<string, string>): WorkerProcess;
  request(day: string): Promise<DrillRun>;
  /** Waits until nothing of the run is queued or sending and the run says so. */
  waitUntilFinished(run: DrillRun, timeoutMs?: number): Promise<void>;
  /** Zero duplicates at the relay, every ledger row final, sent ⇔ received once; returns counts per status. */
  expectSound(run: DrillRun, rows?: number): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

export async function startFaultDrill(options: { subscribers: number; env?: Record<string, string>; script?: FaultScript }): Promise<FaultDrill> {
  const testDb = await createTestDatabase();
  await importPapersFile(testDb.db, sampleDataFile);
  await sql`insert into subscribers (email, status) select 'reader' || g || '@example.org', 'active' from generate_series(1, ${options.subscribers}) g`.execute(testDb.db);
  const sink = await startFaultSink(options.script);
  const env: Record<string, string> = {
    NODE_ENV: 'test',
    DATABASE_URL: testDb.url,
    REDIS_URL: testRedisUrl,
    QUEUE_PREFIX: `pbfault-${randomBytes(6).toString('hex')}`,
    SMTP_URL: sink.url,
    PUBLIC_URL: 'https://papers.example.test',
    MAIL_FROM: 'Paperboy <digest@papers.example.test>',
    SECRET: randomBytes(32).toString('hex'),
    LOAD_SAMPLE_DATA: 'false',
    INGEST_SCHEDULE: 'false',
    LOG_LEVEL: 'warn',
    SEND_RATE: '2000',
    SEND_BATCH_SIZE: '100',
    SEND_RETRY_DELAY_MS: '200',
    // Tests never ask the internet's DNS; the MX grouping has its own test with a DNS server of its own.
    DOMAIN_MX_GROUPING: 'false',
    DELIVERY_LEASE_SECONDS: '3',
    RECONCILE_INTERVAL_SECONDS: '0.5',
    JOB_LOCK_SECONDS: '3',
    SMTP_COMMAND_TIMEOUT_SECONDS: '1',
    SMTP_TRANSACTION_TIMEOUT_SECONDS: '2',
    ...options.env,
  };
  const config = loadConfig(env);
  const queues = new Queues(createRedis({ url: config.redisUrl, role: 'producer', cluster: config.redisCluster }), config.queuePrefix);
  const workers: WorkerProcess[] = [];
  const drill: FaultDrill = {
    testDb,
    sink,
    env,
    config,
    queues,
    workers,
    startWorker(extraEnv = {}) {
      const worker = spawnWorker({ ...env, ...extraEnv });
      workers.push(worker);
      return worker;
    },
    async request(day) {
      const { edition, run } = await createServices({ config, db: testDb.db, queues, log: createLogger('silent') }).requestDailyDigest(day);
      if (!run) throw new Error(`no send run for ${day}`);
      return { id: run.id, editionId: edition.id };
    },
    async waitUntilFinished(run, timeoutMs = 120_000) {
      await waitFor(
        async () => {
          const open = await testDb.db
            .selectFrom('deliveries')
            .select('id')
            .where('run_id', '=', run.id)
            .where('status', 'in', ['queued', 'sending'])
            .limit(1)
            .executeTakeFirst();
          return !open && (await findSendRunById(testDb.db, run.id))!.status === 'sent';
        },
        { what: `run ${run.id} finished`, timeoutMs, intervalMs: 100 },
      ).catch((error: Error) => {
        throw new Error(`${error.message}\n${workers.map((w, i) => `worker ${i}:\n${w.output()}`).join('\n')}`);
      });
    },
    async expectSound(run, planned = options.subscribers) {
      const rows = await testDb.db.selectFrom('deliveries').select(['subscriber_id', 'status']).where('run_id', '=', run.id).execute();
      expect(rows).toHaveLength(planned);
      const problems: string[] = [];
      const counts: Record<string, number> = {};
      for (const row of rows) {
        counts[row.status] = (counts[row.status] ?? 0) + 1;
        const received = sink.byMessageId.get(`<digest.e${run.editionId}.s${row.subscriber_id}@papers.example.test>`) ?? 0;
        if (!FINAL_STATUSES.includes(row.status)) problems.push(`subscriber ${row.subscriber_id}: still ${row.status}`);
        else if (row.status === 'sent' && received !== 1) problems.push(`subscriber ${row.subscriber_id}: sent but received ${received} times`);
        else if (row.status !== 'sent' && received > 1) problems.push(`subscriber ${row.subscriber_id}: ${row.status} and received ${received} times`);
      }
      expect(sink.duplicates()).toEqual([]);
      expect(problems.slice(0, 20)).toEqual([]);
      return counts;
    },
    async stop() {
      await Promise.all(workers.map((w) => w.kill('SIGKILL')));
      await queues.close();
      await queues.connection.quit();
      await sink.close();
      // A drill on a Redis of its own (a Cluster, say) leaves nothing in the shared one.
      if (config.redisUrl === testRedisUrl) await deleteQueuePrefix(testRedisUrl, config.queuePrefix);
      await testDb.drop();
    },
  };
  return drill;
}

/** Prints a drill's recovery time: measured and recorded, never asserted (timings are for benchmarks). */
export function reportRecovery(drill: string, ms: number, detail: Record<string, unknown> = {}): void {
  console.log(`[fault drill] ${drill}: recovered in ${(ms / 1000).toFixed(2)} s ${JSON.stringify(detail)}`);
}

/** `paperboy ARGS` in a child process with the drill's environment; resolves with its exit code and output. */
export async function runCli(env: Record<string, string>, args: string[], timeoutMs = 120_000): Promise<{ code: number | null; output: string }> {
  const { spawn } = await import('node:child_process');
  const { repoRoot } = await import('./worker-process.ts');
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  try {
    // A hung command fails the test with what it printed, instead of the test timing out blind.
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    clearTimeout(timer);
    return { code, output: child.signalCode ? `${output}\n(killed after ${timeoutMs} ms)` : output };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}
