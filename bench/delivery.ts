/**
 * Delivery benchmark: the real planner and the real sender (`paperboy worker` in a child process)
 * against an SMTP sink in another process, and, in the same run, the raw SMTP ceiling: one
 * pre-built message pushed by the same pooled nodemailer transport to the same sink.
 *
 *   npm run bench                      100,000 subscribers
 *   npm run bench -- --million         1,000,000 subscribers
 *   npm run bench -- --subscribers 20000 --connections 10
 *   npm run bench -- --million --plan-only       planning 1,000,000 without sending
 *   npm run bench -- --worker-flags ""             the worker with Node's default heap settings
 *   npm run bench -- --workers 4                   four worker processes share the send
 *   npm run bench -- --outage 60                   the relay refuses connections for 60 s mid-send
 *   npm run bench -- --personal                    then the personal scenario in the same run (bench/personal.ts)
 *   npm run bench -- --personal --subscribers 10000 --five-day-readers 1000
 *   npm run bench -- --dkim --subscribers 20000    then the same edition signed (RSA-2048, Ed25519), then unsigned again (bench/dkim.ts)
 *
 * BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres) names the server; a
 * fresh database is created and dropped. REDIS_URL defaults to redis://127.0.0.1:6379.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import pg from 'pg';
import { loadConfig } from '../src/config.ts';
import { createDatabase, ensureDatabaseExists } from '../src/db/database.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { countDeliveriesByStatus, findSendWindow } from '../src/delivery/delivery.repository.ts';
import { planRun } from '../src/delivery/planner.ts';
import { ensureSendRun, findSendRunById } from '../src/delivery/send-run.repository.ts';
import { unsubscribeUrl, preferencesUrl } from '../src/delivery/digest-message.ts';
import { assembleDigest, assembleDigestParts, compileDigestMime } from '../src/delivery/digest-mime.ts';
import { createSmtpMailer } from '../src/delivery/mailer.ts';
import { createSmtpPool } from '../src/delivery/smtp-pool.ts';
import { buildDailyEdition } from '../src/editions/edition.service.ts';
import { createLogger } from '../src/logger.ts';
import { importPapersFile, sampleDataFile } from '../src/papers/import-file.ts';
import { createServices } from '../src/app/services.ts';
import { createRedis, Queues } from '../src/queue/queues.ts';
import { createSubscriberToken } from '../src/subscribers/tokens.ts';
import { dkimTargetsMet, runDkimScenario } from './dkim.ts';
import { personalTargetsMet, runPersonalScenario } from './personal.ts';
import { cpuSecondsOf, machineCpuSeconds, memoryOf } from './process-stats.ts';

const root = path.join(import.meta.dirname, '..');
/**
 * What BENCHMARKS.md recommends for worker processes (NODE_OPTIONS): without a cap V8 lets the
 * old generation grow lazily (RSS climbs ~1 MB per 1,000 messages until a major GC, not a leak).
 */
const WORKER_FLAGS = '--max-old-space-size=128 --max-semi-space-size=4';
const { values: args } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== 'delivery'),
  options: {
    subscribers: { type: 'string' },
    million: { type: 'boolean', default: false },
    connections: { type: 'string' },
    'ceiling-messages': { type: 'string' },
    'batch-size': { type: 'string' },
    'plan-only': { type: 'boolean', default: false },
    workers: { type: 'string', default: '1' },
    // Seconds the sink refuses connections, starting when half the edition was accepted.
    outage: { type: 'string' },
    // V8 flags for the worker process; '' runs it with Node's defaults.
    'worker-flags': { type: 'string', default: WORKER_FLAGS },
    // After the uniform send, the personal scenario of issue #10 (bench/personal.ts).
    personal: { type: 'boolean', default: false },
    'five-day-readers': { type: 'string' },
    // After the unsigned send, the same edition DKIM-signed by the workers (bench/dkim.ts).
    dkim: { type: 'boolean', default: false },
  },
});
const N = args.million ? 1_000_000 : Number(args.subscribers ?? 100_000);
const CONNECTIONS = Number(args.connections ?? 5);
const CEILING_MESSAGES = Number(args['ceiling-messages'] ?? Math.min(N, 30_000));
const WORKERS = Number(args.workers);
const OUTAGE_SECONDS = args.outage === undefined ? 0 : Number(args.outage);
if (!Number.isInteger(WORKERS) || WORKERS < 1 || WORKERS > 16) {
  console.error('--workers must be a whole number from 1 to 16');
  process.exit(2);
}
const FIVE_DAY_READERS = Number(args['five-day-readers'] ?? Math.min(N, 2_000));
if (!Number.isInteger(FIVE_DAY_READERS) || FIVE_DAY_READERS < 1 || FIVE_DAY_READERS > N) {
  console.error('--five-day-readers must be a whole number from 1 to the number of subscribers');
  process.exit(2);
}
if (!Number.isFinite(OUTAGE_SECONDS) || OUTAGE_SECONDS < 0 || OUTAGE_SECONDS > 3600) {
  console.error('--outage must be a number of seconds from 0 to 3600');
  process.exit(2);
}
const DAY = '2025-12-26';
const base = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

const ms = (t0: number) => performance.now() - t0;
const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const log = (line: string) => process.stderr.write(`${line}\n`);

type SinkMessage = { type: string; [key: string]: unknown };
function startSink(): Promise<{ child: ChildProcess; port: number; ask(type: string, extra?: Record<string, unknown>): Promise<SinkMessage> }> {
  const child = fork(path.join(root, 'bench/sink-process.ts'), { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  const ask = (type: string, extra: Record<string, unknown> = {}) =>
    new Promise<SinkMessage>((resolve) => {
      const onMessage = (message: SinkMessage) => {
        if (message.type !== type) return;
        child.off('message', onMessage);
        resolve(message);
      };
      child.on('message', onMessage);
      if (type !== 'listening') child.send({ type, ...extra });
    });
  return ask('listening').then((m) => ({ child, port: m.port as number, ask }));
}

/** Pids of the processes whose command name is `name` (e.g. every Postgres backend), from /proc. */
function pidsNamed(name: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === name) pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

/** CPU seconds of the Postgres server (every backend, alive now) and of Redis. */
function serverCpuSeconds(): { postgres: number; redis: number } {
  const sum = (pids: number[]) => pids.reduce((total, pid) => total + cpuSecondsOf(pid), 0);
  return { postgres: sum(pidsNamed('postgres')), redis: sum(pidsNamed('redis-server')) };
}

async function main() {
  const nodeVersion = process.version;
  const cpus = os.cpus();
  log(`Paperboy delivery benchmark: ${fmt(N)} subscribers, ${CONNECTIONS} SMTP connections; ${os.availableParallelism()} cores (${cpus[0]?.model.trim()}), node ${nodeVersion}`);

  const sink = await startSink();
  log(`sink started (pid ${sink.child.pid})`);
  const smtpUrl = `smtp://127.0.0.1:${sink.port}`;
  const name = `paperboy_bench_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const url = new URL(base);
  url.pathname = `/${name}`;
  await ensureDatabaseExists(url.toString());
  const db = createDatabase(url.toString(), { max: 4 });
  const prefix = `pbbench-${randomBytes(4).toString('hex')}`;
  log(`database ${name}, queue prefix ${prefix}`);
  const env: Record<string, string> = {
    NODE_ENV: 'test',
    DATABASE_URL: url.toString(),
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: prefix,
    SMTP_URL: smtpUrl,
    PUBLIC_URL: 'https://papers.example.test',
    MAIL_FROM: 'Paperboy <digest@papers.example.test>',
    SECRET: randomBytes(32).toString('hex'),
    LOAD_SAMPLE_DATA: 'false',
    INGEST_SCHEDULE: 'false',
    LOG_LEVEL: 'warn',
    // The shared token bucket stays in the path, set high enough not to be the limit.
    SEND_RATE: '1000000',
    SMTP_MAX_CONNECTIONS: String(CONNECTIONS),
    ...(args['batch-size'] ? { SEND_BATCH_SIZE: args['batch-size'] } : {}),
  };
  const config = loadConfig(env);
  const redis = createRedis({ url: redisUrl, role: 'producer' });
  const queues = new Queues(redis, prefix);
  const workers: ChildProcess[] = [];
  const stopWorkers = () =>
    Promise.all(
      workers.map(async (w) => {
        if (w.exitCode !== null || w.signalCode !== null) return;
        const exited = new Promise((resolve) => w.once('exit', resolve));
        w.kill('SIGTERM');
        const forced = setTimeout(() => w.kill('SIGKILL'), 30_000);
        await exited;
        clearTimeout(forced);
      }),
    );
  const results: Record<string, string | number> = {};
  try {
    let t0 = performance.now();
    await migrateToLatest(db);
    await importPapersFile(db, sampleDataFile);
    await sql`insert into subscribers (email, status, confirmed_at)
      select 'reader' || g || '@example.org', 'active', now() - interval '1 day' from generate_series(1, ${N}) g`.execute(db);
    await sql`analyze`.execute(db);
    log(`setup: ${fmt(N)} subscribers in ${fmt(ms(t0) / 1000, 1)} s`);

    t0 = performance.now();
    const edition = await buildDailyEdition(db, DAY, { publicUrl: config.publicUrl, maxPapers: config.digestMaxPapers });
    const run = await ensureSendRun(db, edition.id);
    results.renderEditionMs = Math.round(ms(t0));

    // Per-message work, on the real edition: the personal token plus splicing the pre-built MIME.
    const context = { publicUrl: config.publicUrl, mailFrom: config.mailFrom, listId: config.listId };
    const compiled = compileDigestMime(edition, context);
    const stuffed = compileDigestMime(edition, context, { dotStuffed: true });
    const sample = assembleDigest(compiled, { subscriberId: 1, email: 'reader1@example.org', values: { UNSUBSCRIBE_URL: 'https://papers.example.test/u/1.1.abcdefghijklmnopqrstuvwx', PREFERENCES_URL: 'https://papers.example.test/p/1.1.abcdefghijklmnopqrstuvwx' } })!;
    const rounds = 100_000;
    t0 = performance.now();
    for (let i = 1; i <= rounds; i++) {
      const token = createSubscriberToken(config.secret, 'unsubscribe', i, 1);
      const preferences = createSubscriberToken(config.secret, 'preferences', i, 1);
      assembleDigestParts(stuffed, {
        subscriberId: i,
        email: `reader${i}@example.org`,
        values: { UNSUBSCRIBE_URL: unsubscribeUrl(config.publicUrl, token), PREFERENCES_URL: preferencesUrl(config.publicUrl, preferences) },
      });
    }
    results.assemblyMicrosPerMessage = Number(((ms(t0) * 1000) / rounds).toFixed(2));
    results.messageBytes = sample.raw.length;

    // The ceiling: the same pooled transport, the same sink, one pre-built message, no database.
    const ceilingRaw = Buffer.from(sample.raw.toString('latin1').replace(/^Message-ID: .*$/m, 'Message-ID: <ceiling@papers.example.test>'), 'latin1');
    // Measured before and after the real send, the machine's load can change in between.
    const measureCeiling = async (label: string) => {
      const mailer = createSmtpMailer({ url: smtpUrl, maxConnections: CONNECTIONS });
      await mailer.sendRaw({ from: compiled.envelopeFrom, to: 'warmup@example.org' }, ceilingRaw);
      const started = performance.now();
      const cpuStarted = process.cpuUsage();
      let next = 0;
      await Promise.all(
        Array.from({ length: CONNECTIONS * 8 }, async () => {
          while (next++ < CEILING_MESSAGES) await mailer.sendRaw({ from: compiled.envelopeFrom, to: `c${next}@example.org` }, ceilingRaw);
        }),
      );
      const rate = CEILING_MESSAGES / (ms(started) / 1000);
      const cpu = process.cpuUsage(cpuStarted);
      results[`ceilingCpuMicrosPerMessage${label === 'before' ? 'Before' : 'After'}`] = Math.round((cpu.user + cpu.system) / CEILING_MESSAGES);
      await mailer.close();
      await sink.ask('reset');
      log(`ceiling (${label}): ${fmt(CEILING_MESSAGES)} pre-built messages over ${CONNECTIONS} pooled connections: ${fmt(rate)} msg/s, ${fmt((cpu.user + cpu.system) / CEILING_MESSAGES)} µs CPU/message in the sender`);
      return rate;
    };
    // For reference: the same pre-built (stuffed) message through the digest's own SMTP client.
    const measureDirectCeiling = async () => {
      const pool = createSmtpPool({ url: smtpUrl, maxConnections: CONNECTIONS, allowPlaintext: true });
      const parts = assembleDigestParts(stuffed, { subscriberId: 0, email: 'ceiling@example.org', values: { UNSUBSCRIBE_URL: 'https://papers.example.test/u/0.1.abcdefghijklmnopqrstuvwx', PREFERENCES_URL: 'https://papers.example.test/p/0.1.abcdefghijklmnopqrstuvwx' } })!.parts.map((p) =>
        Buffer.from(p.toString('latin1').replace(/^Message-ID: .*$/m, 'Message-ID: <ceiling@papers.example.test>'), 'latin1'),
      );
      await pool.send({ from: compiled.envelopeFrom, to: 'warmup@example.org' }, parts);
      const started = performance.now();
      let next = 0;
      await Promise.all(
        Array.from({ length: CONNECTIONS * 8 }, async () => {
          while (next++ < CEILING_MESSAGES) await pool.send({ from: compiled.envelopeFrom, to: `c${next}@example.org` }, parts);
        }),
      );
      const rate = CEILING_MESSAGES / (ms(started) / 1000);
      await pool.close();
      await sink.ask('reset');
      log(`direct-client ceiling: ${fmt(CEILING_MESSAGES)} pre-built messages over ${CONNECTIONS} connections: ${fmt(rate)} msg/s`);
      return rate;
    };
    const ceilingBefore = args['plan-only'] ? 0 : await measureCeiling('before');
    if (!args['plan-only']) results.directClientCeilingMessagesPerSecond = Math.round(await measureDirectCeiling());

    if (args['plan-only']) {
      // Planning alone (e.g. for 1,000,000 subscribers), without sending: the batch jobs go to a
      // queue no worker reads, and are deleted with the prefix afterwards.
      const started = performance.now();
      const planned = await planRun(createServices({ config, db, queues, log: createLogger('silent') }).delivery, run.id);
      const total = ms(started);
      log(`planning: ${fmt(planned.planned)} ledger rows in ${fmt(planned.planMs)} ms, ${fmt(planned.batches)} batch jobs enqueued in ${fmt(total - planned.planMs)} ms (total ${fmt(total)} ms)`);
      process.stdout.write(`${JSON.stringify({ subscribers: N, planned: planned.planned, planInsertMs: planned.planMs, planEnqueueMs: Math.round(total - planned.planMs), batches: planned.batches })}\n`);
      return;
    }

    // The senders: `paperboy worker` as their own processes, exactly as deployed, each tied to
    // this bench so none outlives it (bench/worker-process.ts).
    const workerExecArgv = [...(args['worker-flags'] ? args['worker-flags'].split(' ') : []), ...(process.env.BENCH_WORKER_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_WORKER_PROFILE}`] : []), '--import', 'tsx'];
    const startWorkers = async (extraEnv: Record<string, string> = {}) => {
      workers.length = 0;
      for (let i = 0; i < WORKERS; i++) {
        const child = fork(path.join(root, 'bench/worker-process.ts'), [], { cwd: root, execArgv: workerExecArgv, env: { PATH: process.env.PATH ?? '', ...(process.env.UV_THREADPOOL_SIZE ? { UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE } : {}), ...env, ...extraEnv }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
        workers.push(child);
        log(`worker ${i + 1} started (pid ${child.pid})`);
      }
      // A stopped worker deletes its delivery_workers row, so this counts the new ones.
      for (;;) {
        const { count } = await db.selectFrom('delivery_workers').select((eb) => eb.fn.countAll<string>().as('count')).executeTakeFirstOrThrow();
        if (Number(count) >= WORKERS) break;
        const exited = workers.find((w) => w.exitCode !== null);
        if (exited) throw new Error(`a worker exited with ${exited.exitCode} before it started`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      return [...workers];
    };
    await startWorkers();

    const workerCpu = () => workers.reduce((total, w) => total + cpuSecondsOf(w.pid!), 0);
    const serversBefore = serverCpuSeconds();
    const cpuBefore = { worker: workerCpu(), sink: cpuSecondsOf(sink.child.pid!), machine: machineCpuSeconds() };
    const started = performance.now();
    // The workers send each batch window as soon as planning has written it (src/delivery/planner.ts),
    // so the send is watched while planning goes on.
    let planned: Awaited<ReturnType<typeof planRun>> | undefined;
    let planTotal = NaN;
    let planningFailed: unknown;
    const planning = planRun(createServices({ config, db, queues, log: createLogger('silent') }).delivery, run.id).then(
      (result) => {
        planned = result;
        planTotal = ms(started);
        results.planned = result.planned;
        results.planInsertMs = result.planMs;
        results.planEnqueueMs = Math.round(planTotal - result.planMs);
        results.batches = result.batches;
        log(`planning: ${fmt(result.planned)} ledger rows in ${fmt(result.planMs)} ms (sending meanwhile), last batch jobs enqueued in ${fmt(planTotal - result.planMs)} ms`);
      },
      (error: unknown) => {
        planningFailed = error;
      },
    );
    let acceptedSoFar = 0;
    let lastAcceptedSeenAt = started;

    const peakRss = new Map<number, number>();
    let lastLog = 0;
    // Progress per 100,000 accepted messages (the rate of each slice, so a slowdown shows where).
    const slices: { accepted: number; seconds: number }[] = [];
    let nextSlice = 100_000;
    let outage: { startedAt: number; acceptedBefore: number; secondsBefore: number; ended?: number } | undefined;
    for (;;) {
      for (const w of workers) {
        const mem = memoryOf(w.pid!);
        peakRss.set(w.pid!, Math.max(peakRss.get(w.pid!) ?? 0, mem.peak, mem.rss));
      }
      if (planningFailed) throw planningFailed;
      const current = await findSendRunById(db, run.id);
      if (current?.status === 'sent' && planned) break;
      const wantStats = performance.now() - lastLog > 5_000 || (OUTAGE_SECONDS > 0 && !outage) || N >= nextSlice;
      if (wantStats) {
        const stats = await sink.ask('stats');
        const accepted = stats.accepted as number;
        if (accepted > acceptedSoFar) {
          acceptedSoFar = accepted;
          lastAcceptedSeenAt = performance.now();
        }
        while (accepted >= nextSlice && nextSlice <= N) {
          slices.push({ accepted: nextSlice, seconds: ms(started) / 1000 });
          nextSlice += 100_000;
        }
        if (OUTAGE_SECONDS > 0 && !outage && accepted >= N / 2) {
          outage = { startedAt: performance.now(), acceptedBefore: accepted, secondsBefore: ((stats.lastAt as number) - (stats.firstAt as number)) / 1000 };
          log(`  outage: the relay refuses connections for ${OUTAGE_SECONDS} s from now (${fmt(accepted)} accepted)`);
          void sink.ask('outage-ended').then(() => {
            outage!.ended = performance.now();
            log('  outage over: the relay accepts connections again');
          });
          await sink.ask('outage', { ms: OUTAGE_SECONDS * 1000 });
        }
        if (performance.now() - lastLog > 5_000) {
          const rss = workers.map((w) => `${fmt(memoryOf(w.pid!).rss / 1048576)}`).join('/');
          log(`  ${fmt(accepted)} accepted, worker RSS ${rss} MB`);
          lastLog = performance.now();
        }
      }
      const exited = workers.find((w) => w.exitCode !== null);
      if (exited) throw new Error(`a worker exited with ${exited.exitCode}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await planning;
    const endToEnd = ms(started);
    const finishedAt = performance.now();
    // Nothing follows `sent`: what each person received is derived from the ledger, not written
    // per person and paper (the old sent_papers step took tens of seconds at 100,000).
    const serversAfter = serverCpuSeconds();
    const cpu = {
      worker: workerCpu() - cpuBefore.worker,
      sink: cpuSecondsOf(sink.child.pid!) - cpuBefore.sink,
      machine: machineCpuSeconds() - cpuBefore.machine,
      postgres: Math.max(0, serversAfter.postgres - serversBefore.postgres),
      redis: Math.max(0, serversAfter.redis - serversBefore.redis),
    };
    const stats = await sink.ask('stats');
    // Stop the workers first, so the second ceiling has the machine to itself as the first had.
    await stopWorkers();
    const ceilingAfter = await measureCeiling('after');
    const ceiling = (ceilingBefore + ceilingAfter) / 2;
    results.ceilingBefore = Math.round(ceilingBefore);
    results.ceilingAfter = Math.round(ceilingAfter);
    results.ceilingMessagesPerSecond = Math.round(ceiling);
    const counts = await countDeliveriesByStatus(db, run.id);
    const window = await findSendWindow(db, run.id);
    const sinkSeconds = ((stats.lastAt as number) - (stats.firstAt as number)) / 1000;
    const sendRate = (stats.accepted as number) / sinkSeconds;
    const ledgerSeconds = window.first && window.last ? (window.last.getTime() - window.first.getTime()) / 1000 : NaN;
    results.sent = counts.sent;
    results.unknown = counts.unknown;
    results.failed = counts.failed;
    results.acceptedAtSink = stats.accepted as number;
    results.duplicatesAtSink = stats.duplicates as number;
    results.ledgerVsSinkMismatch = counts.sent - (stats.digests as number);
    results.sendMessagesPerSecond = Math.round(sendRate);
    results.ledgerMessagesPerSecond = Math.round(counts.sent / ledgerSeconds);
    results.endToEndMessagesPerSecond = Math.round(counts.sent / (endToEnd / 1000));
    results.ratioToCeiling = Number((sendRate / ceiling).toFixed(3));
    results.ratioToDirectClientCeiling = Number((sendRate / (results.directClientCeilingMessagesPerSecond as number)).toFixed(3));
    results.sendPhaseSeconds = Number(sinkSeconds.toFixed(1));
    // Seen by the polls above (every 0.1-5 s): from the last new acceptance to the run marked sent.
    results.finishMs = Math.round(finishedAt - lastAcceptedSeenAt);
    results.endToEndSeconds = Number((endToEnd / 1000).toFixed(1));
    results.workerPeakRssMB = Math.round(Math.max(...peakRss.values()) / 1048576);
    results.sinkRssMB = Math.round((stats.rss as number) / 1048576);
    // Where the CPU went while planning and sending (2 cores = 2 CPU-seconds per second).
    results.cpuWorkerSeconds = Number(cpu.worker.toFixed(1));
    results.cpuSinkSeconds = Number(cpu.sink.toFixed(1));
    results.cpuEverythingElseSeconds = Number((cpu.machine - cpu.worker - cpu.sink).toFixed(1));
    results.workerCpuMicrosPerMessage = Math.round((cpu.worker * 1e6) / Math.max(1, counts.sent));
    results.cpuPostgresSeconds = Number(cpu.postgres.toFixed(1));
    results.cpuRedisSeconds = Number(cpu.redis.toFixed(1));
    results.postgresCpuMicrosPerMessage = Math.round((cpu.postgres * 1e6) / Math.max(1, counts.sent));
    results.redisCpuMicrosPerMessage = Math.round((cpu.redis * 1e6) / Math.max(1, counts.sent));
    results.sinkPeakRssMB = Math.round(memoryOf(sink.child.pid!).peak / 1048576);
    results.per100k = slices.map((slice, i) => {
      // The first slice counts from the start of planning, which sending overlaps.
      const previous = slices[i - 1]?.seconds ?? 0;
      return Math.round(100_000 / (slice.seconds - previous));
    }).join(',');
    if (outage) {
      // What the run would have taken at the rate it had before the outage, against what it took.
      const rateBefore = outage.acceptedBefore / outage.secondsBefore;
      results.outageSeconds = OUTAGE_SECONDS;
      results.timeLostSeconds = Number((sinkSeconds - N / rateBefore).toFixed(1));
      results.secondsFromRelayBackToLastRow = outage.ended ? Number(((finishedAt - outage.ended) / 1000).toFixed(1)) : NaN;
    }

    log('');
    log(`end to end (plan → last ledger row):   ${fmt(results.endToEndMessagesPerSecond)} msg/s over ${results.endToEndSeconds} s`);
    log(`sending (first → last accepted):       ${fmt(sendRate)} msg/s   (ledger sent_at: ${fmt(results.ledgerMessagesPerSecond)} msg/s)`);
    log(`raw SMTP ceiling (nodemailer, raw):    ${fmt(ceiling)} msg/s (mean of ${fmt(ceilingBefore)} before and ${fmt(ceilingAfter)} after)`);
    log(`ratio sending / ceiling:               ${results.ratioToCeiling} (to the direct-client ceiling of ${fmt(results.directClientCeilingMessagesPerSecond as number)} msg/s: ${results.ratioToDirectClientCeiling})`);
    log(`planning ${fmt(N)} (insert ranges):     ${fmt(planned!.planMs)} ms, sending meanwhile; enqueue the last of ${fmt(planned!.batches)} jobs: ${fmt(results.planEnqueueMs as number)} ms`);
    log(`finish (last accepted → run sent):     ${fmt(results.finishMs)} ms; nothing written per paper after it`);
    log(`render edition (MJML, once):           ${results.renderEditionMs} ms; assembly ${results.assemblyMicrosPerMessage} µs/message (${fmt(results.messageBytes)} bytes)`);
    log(`worker peak RSS:                       ${results.workerPeakRssMB} MB (the largest of ${WORKERS}); sink peak RSS ${results.sinkPeakRssMB} MB`);
    log(`CPU per message:                       worker ${results.workerCpuMicrosPerMessage} µs, Postgres ${results.postgresCpuMicrosPerMessage} µs, Redis ${results.redisCpuMicrosPerMessage} µs`);
    if (slices.length > 0) log(`msg/s per 100,000 accepted:            ${results.per100k}`);
    if (outage) log(`relay outage of ${OUTAGE_SECONDS} s:                  ${results.timeLostSeconds} s lost against the rate before it; failed ${counts.failed}, duplicates ${results.duplicatesAtSink}`);
    log(`CPU while sending: worker ${results.cpuWorkerSeconds} s (${results.workerCpuMicrosPerMessage} µs/message), sink ${results.cpuSinkSeconds} s, everything else on the machine ${results.cpuEverythingElseSeconds} s`);
    log(`duplicates at the sink:                ${results.duplicatesAtSink}; sent ${fmt(counts.sent)}, unknown ${counts.unknown}, failed ${counts.failed}`);
    log(`worker flags:                          ${args['worker-flags'] || '(Node defaults)'}`);
    process.stdout.write(`${JSON.stringify({ subscribers: N, connections: CONNECTIONS, workers: WORKERS, cores: os.availableParallelism(), node: nodeVersion, workerFlags: args['worker-flags'], ...results })}\n`);
    if (results.duplicatesAtSink !== 0 || counts.sent !== N || results.ledgerVsSinkMismatch !== 0) process.exitCode = 1;
    if (args.dkim) {
      const dkim = await runDkimScenario({
        db, config, sink, startWorkers, stopWorkers, log,
        services: createServices({ config, db, queues, log: createLogger('silent') }),
        editionId: edition.id,
        runId: run.id,
        unsigned: { sendRate, workerCpuMicrosPerMessage: results.workerCpuMicrosPerMessage as number, sent: counts.sent },
      });
      process.stdout.write(`${JSON.stringify({ subscribers: N, connections: CONNECTIONS, workers: WORKERS, cores: os.availableParallelism(), node: nodeVersion, ...dkim })}\n`);
      if (!dkimTargetsMet(dkim, N)) process.exitCode = 1;
    }
    if (args.personal) {
      const personal = await runPersonalScenario({
        db, config, sink, startWorkers, stopWorkers, log,
        services: createServices({ config, db, queues, log: createLogger('silent') }),
        subscribers: N,
        fiveDayReaders: FIVE_DAY_READERS,
        uniformSendRate: sendRate,
        uniformCpu: {
          worker: results.workerCpuMicrosPerMessage as number,
          sink: Math.round((cpu.sink * 1e6) / Math.max(1, counts.sent)),
          postgres: results.postgresCpuMicrosPerMessage as number,
        },
        cpuNow: (running) => ({
          worker: running.reduce((total, w) => total + cpuSecondsOf(w.pid!), 0),
          sink: cpuSecondsOf(sink.child.pid!),
          postgres: serverCpuSeconds().postgres,
          machine: machineCpuSeconds(),
        }),
      });
      process.stdout.write(`${JSON.stringify({ connections: CONNECTIONS, workers: WORKERS, cores: os.availableParallelism(), node: nodeVersion, ...personal })}\n`);
      if (!personalTargetsMet(personal)) process.exitCode = 1;
    }
  } finally {
    await stopWorkers();
    sink.child.send({ type: 'exit' });
    await queues.close();
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
    await db.destroy();
    const admin = new pg.Client({ connectionString: base });
    await admin.connect();
    await admin.query(`drop database if exists ${pg.escapeIdentifier(name)} with (force)`);
    await admin.end();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
