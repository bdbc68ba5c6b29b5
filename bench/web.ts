/**
 * Web benchmark (`npm run bench -- web`): the real API process (`paperboy api`, as deployed)
 * serving the archive page, /feed.xml and a topic feed, loaded by autocannon from this process.
 * The database holds 100,000 generated papers, 80 a featured day by default (Daily Papers features
 * some 50–100 a day, so 100,000 papers are over three years of history), and the editions of the
 * last days. In the same run, a bare Fastify route in its own process gives the ceiling. Beside
 * each figure: the CPU the API process and the database's backends spent per request, which a
 * busy host changes less than the rates.
 *
 *   npm run bench -- web [--seconds N] [--connections N] [--days N]     BENCH_DATABASE_URL=postgres://…/postgres
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { cpus, loadavg, totalmem } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { sql } from 'kysely';
import pg from 'pg';
import { createDatabase, ensureDatabaseExists } from '../src/db/database.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { buildDailyEdition } from '../src/editions/edition.service.ts';
import { deleteQueuePrefix } from '../test/helpers/service.ts';
import { cpuSecondsOf } from './process-stats.ts';

const PAPERS = 100_000;
const LAST_DAY = '2025-12-26';
const EDITIONS = 5;
const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const SECONDS = arg('seconds', 10);
const CONNECTIONS = arg('connections', 10);
/** Featured days the papers spread over: 1,250 gives 80 a day and 2,400 in the 30-day topic window. */
const DAYS = arg('days', 1_250);
const root = path.join(import.meta.dirname, '..');
// Topics people follow; each appears in a few per cent of titles and abstracts, as on Daily Papers.
const TOPICS = ['diffusion', 'robot learning', 'reasoning', '"vision language"', 'retrieval -survey', 'speech', 'agents', 'video generation', 'reinforcement learning', 'mixture of experts'];
const TOPIC_WORDS = ['diffusion', 'robot', 'learning', 'reasoning', 'vision', 'language', 'retrieval', 'survey', 'speech', 'agent', 'video', 'generation', 'reinforcement', 'mixture', 'experts', 'transformer', 'benchmark', 'alignment', 'quantization', 'multimodal'];

export async function generatePapers(db: ReturnType<typeof createDatabase>, days = DAYS): Promise<void> {
  // 2,000 distinct titles and abstracts of filler words w0…w1999 with a topic word in about 5% of
  // title words and 0.5% of abstract words, and one in the keywords of a fifth of the papers, so
  // a topic matches some 5–10% of papers (120–240 of the 30-day window at 80 papers a day), combined per paper
  // (generating 100,000 abstracts word by word takes minutes; the search and ranking costs are the
  // same). Rows go in day by day, oldest first, as ingestion stores them (src/papers/ingest.ts), so
  // a day's papers sit together in the table as they do in service. The full-text GIN index is
  // dropped for the load and built again after it, with its definition from the migrations: one
  // bulk build instead of 100,000 insertions into it.
  const { rows: indexes } = await sql<{ indexname: string; indexdef: string }>`
    select indexname, indexdef from pg_indexes where schemaname = current_schema() and tablename = 'papers' and indexdef ilike '% using gin %'`.execute(db);
  for (const { indexname } of indexes) await sql`drop index if exists ${sql.id(indexname)}`.execute(db);
  await sql`
    with pool as materialized (
    select k,
      (select string_agg(case when random() < 0.05 then (${TOPIC_WORDS}::text[])[1 + floor(random() * ${TOPIC_WORDS.length})::int] else 'w' || floor(random() * 2000)::int end, ' ')
       from generate_series(1, 8 + (k % 5)) g where k = k) as title,
      (select string_agg(case when random() < 0.005 then (${TOPIC_WORDS}::text[])[1 + floor(random() * ${TOPIC_WORDS.length})::int] else 'w' || floor(random() * 2000)::int end, ' ')
       from generate_series(1, 180) g where k = k) as abstract
    from generate_series(0, 1999) k)
    insert into papers (arxiv_id, title, abstract, authors, featured_on, upvotes, comments, ai_keywords, first_seen_at)
    select
      format('25%s.%s', lpad(((n % 12) + 1)::text, 2, '0'), lpad(n::text, 6, '0')),
      initcap(t.title) || ' ' || n,
      a.abstract,
      array['Author ' || n, 'Author ' || (n + 1), 'Author ' || (n + 2)],
      ${LAST_DAY}::date - (n % ${days}),
      floor(random() * random() * 300)::int,
      floor(random() * 10)::int,
      case when n % 5 = 0 then array[(${TOPIC_WORDS}::text[])[1 + (n / 5) % ${TOPIC_WORDS.length}], 'w' || (n % 2000)] else array['w' || (n % 2000)] end,
      (${LAST_DAY}::date - (n % ${days}))::timestamp at time zone 'UTC' + interval '13 hours'
    from generate_series(1, ${PAPERS}) n
    join pool t on t.k = n % 2000
    join pool a on a.k = (n * 7 + 3) % 2000
    order by ${LAST_DAY}::date - (n % ${days}), n`.execute(db);
  await db.transaction().execute(async (trx) => {
    await sql`set local maintenance_work_mem = '256MB'`.execute(trx);
    for (const { indexdef } of indexes) await sql.raw(indexdef).execute(trx);
  });
  await sql`vacuum analyze papers`.execute(db);
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  server.close();
  await once(server, 'close');
  return port;
}

/** Starts a server process on a free port and waits until it answers. */
async function startProcess(args: string[], env: Record<string, string>, probe: string): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: root, env: { ...process.env, ...env, PORT: String(port) }, stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`${args.join(' ')} exited with ${String(code)}`);
  });
  const ready = (async () => {
    for (;;) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}${probe}`);
        await res.arrayBuffer();
        return;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  })();
  await Promise.race([ready, exited]);
  return { child, port };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  child.kill('SIGTERM');
  await once(child, 'exit');
}

interface Result {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  statuses: string;
}

/** Processes whose CPU is counted per request: the server's, and the database backends'. */
interface Served {
  server: number;
  backends?: () => Promise<number[]>;
}

/**
 * CPU seconds the backends listed by `list` spend from now until stopped. The API's pool opens and
 * closes connections as it needs them (idle ones go after 10 s), so the list is read again every
 * 200 ms: a backend first seen later started during the run, from 0.
 */
async function backendCpu(list: () => Promise<number[]>): Promise<{ stop: () => Promise<number> }> {
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  let started = false;
  const sample = async () => {
    for (const pid of await list()) {
      const cpu = cpuSecondsOf(pid);
      if (!last.has(pid)) first.set(pid, started ? 0 : cpu);
      last.set(pid, cpu);
    }
    started = true;
  };
  await sample();
  // One sample at a time: the admin connection runs one query at a time.
  let running = true;
  const loop = (async () => {
    while (running) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      await sample().catch(() => {});
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      await sample();
      return [...last].reduce((sum, [pid, cpu]) => sum + cpu - first.get(pid)!, 0);
    },
  };
}

async function load(name: string, url: string, options: { headers?: Record<string, string>; paths?: string[]; expect: number; served: Served }): Promise<Result> {
  let next = 0;
  const db = options.served.backends ? await backendCpu(options.served.backends) : undefined;
  const serverBefore = cpuSecondsOf(options.served.server);
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    duration: SECONDS,
    headers: options.headers,
    requests: options.paths ? [{ setupRequest: (req) => ({ ...req, path: options.paths![next++ % options.paths!.length]! }) }] : undefined,
  });
  const statuses = Object.entries({ '1xx': result['1xx'], '2xx': result['2xx'], '3xx': result['3xx'], '4xx': result['4xx'], '5xx': result['5xx'] })
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k}: ${n}`)
    .join(', ');
  const expectedClass = `${String(options.expect)[0]}xx` as '2xx' | '3xx';
  if (result.errors > 0 || result.non2xx !== (expectedClass === '2xx' ? 0 : result[expectedClass])) {
    throw new Error(`${name}: unexpected answers (${statuses}, errors ${result.errors}, timeouts ${result.timeouts})`);
  }
  const serverCpu = cpuSecondsOf(options.served.server) - serverBefore;
  const dbCpu = await db?.stop();
  const perRequest = (seconds: number) => ((seconds * 1000) / Math.max(1, result.requests.total)).toFixed(2);
  const r = { name, rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, statuses };
  const cpuNote = `CPU/request: server ${perRequest(serverCpu)} ms${dbCpu !== undefined ? `, Postgres ${perRequest(dbCpu)} ms` : ''}`;
  console.log(`${name.padEnd(46)} ${r.rps.toFixed(0).padStart(7)} req/s   p50 ${String(r.p50).padStart(3)} ms   p99 ${String(r.p99).padStart(3)} ms   ${cpuNote}   (${statuses})`);
  return r;
}

async function main(): Promise<void> {
  const base = new URL(process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
  const name = `paperboy_bench_web_${randomBytes(4).toString('hex')}`;
  const url = new URL(base);
  url.pathname = `/${name}`;
  const prefix = `pbbench-${randomBytes(4).toString('hex')}`;
  const redisUrl = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
  console.log(`machine: ${cpus().length} × ${cpus()[0]?.model}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`);
  console.log(`load average before: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  await ensureDatabaseExists(url.toString());
  const db = createDatabase(url.toString(), { max: 4 });
  const children: ChildProcess[] = [];
  try {
    await migrateToLatest(db);
    let started = performance.now();
    await generatePapers(db, DAYS);
    console.log(`generated ${PAPERS.toLocaleString('en')} papers over ${DAYS} featured days (${Math.round(PAPERS / DAYS)} a day) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    started = performance.now();
    const settings = { publicUrl: 'https://papers.example.test', maxPapers: 10 };
    for (let i = EDITIONS - 1; i >= 0; i--) {
      const day = new Date(Date.parse(`${LAST_DAY}T00:00:00Z`) - i * 86_400_000).toISOString().slice(0, 10);
      await buildDailyEdition(db, day, settings);
    }
    console.log(`built ${EDITIONS} editions in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    await db.destroy();

    const bare = await startProcess(['bench/bare-fastify.ts'], {}, '/');
    children.push(bare.child);
    const api = await startProcess(['src/cli.ts', 'api'], {
      NODE_ENV: 'production',
      DATABASE_URL: url.toString(),
      REDIS_URL: redisUrl,
      QUEUE_PREFIX: prefix,
      RATE_LIMIT_NAMESPACE: `${prefix}-rl`,
      SECRET: randomBytes(32).toString('hex'),
      SMTP_URL: 'smtp://127.0.0.1:1',
      PUBLIC_URL: settings.publicUrl,
      // Request logging off, as for the bare route: the comparison is about serving.
      LOG_LEVEL: 'warn',
      LOAD_SAMPLE_DATA: 'false',
      // The topic feed is measured uncached: every request runs the search.
      TOPIC_FEED_CACHE_SECONDS: '0',
    }, '/healthz');
    children.push(api.child);
    const apiUrl = `http://127.0.0.1:${api.port}`;
    const page = `/archive/${LAST_DAY}`;
    const etagOf = async (p: string) => {
      const res = await fetch(`${apiUrl}${p}`);
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`${p} answered ${res.status}`);
      return { etag: res.headers.get('etag')!, bytes: Number(res.headers.get('content-length')) };
    };
    const pageTag = await etagOf(page);
    const feedTag = await etagOf('/feed.xml');
    const topicPaths = TOPICS.map((t) => `/feed.xml?topic=${encodeURIComponent(t)}`);
    const topicSizes = await Promise.all(topicPaths.map(etagOf));
    console.log(`archive page ${pageTag.bytes} bytes, /feed.xml ${feedTag.bytes} bytes, topic feeds ${Math.min(...topicSizes.map((s) => s.bytes))}–${Math.max(...topicSizes.map((s) => s.bytes))} bytes`);
    console.log(`autocannon: ${CONNECTIONS} connections, ${SECONDS} s per scenario; load average now ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);

    // The backends serving the API: its pool's connections.
    const admin = new pg.Client({ connectionString: url.toString() });
    await admin.connect();
    const backends = async () =>
      (await admin.query<{ pid: number }>('select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()')).rows.map((r) => r.pid);
    const bareServed = { server: bare.child.pid! };
    const apiServed = { server: api.child.pid!, backends };
    const results = [
      await load('bare Fastify route (ceiling)', `http://127.0.0.1:${bare.port}/`, { expect: 200, served: bareServed }),
      await load(`archive page, If-None-Match (304)`, `${apiUrl}${page}`, { headers: { 'if-none-match': pageTag.etag }, expect: 304, served: apiServed }),
      await load(`archive page, unconditional (200)`, `${apiUrl}${page}`, { expect: 200, served: apiServed }),
      await load('/feed.xml, If-None-Match (304)', `${apiUrl}/feed.xml`, { headers: { 'if-none-match': feedTag.etag }, expect: 304, served: apiServed }),
      await load('/feed.xml, unconditional (200)', `${apiUrl}/feed.xml`, { expect: 200, served: apiServed }),
      await load(`/feed.xml?topic=… uncached, ${TOPICS.length} topics`, apiUrl, { paths: topicPaths, expect: 200, served: apiServed }),
      await load('bare Fastify route (ceiling, again)', `http://127.0.0.1:${bare.port}/`, { expect: 200, served: bareServed }),
    ];
    await admin.end();
    const ceiling = (results[0]!.rps + results.at(-1)!.rps) / 2;
    console.log(`\nratio to the bare route (mean of both runs, ${ceiling.toFixed(0)} req/s):`);
    for (const r of results.slice(1, -1)) console.log(`  ${r.name.padEnd(44)} ${(r.rps / ceiling).toFixed(2)}`);
    console.log(`load average after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  } finally {
    for (const child of children) await stop(child);
    await db.destroy().catch(() => {});
    const admin = new pg.Client({ connectionString: base.toString() });
    await admin.connect();
    await admin.query(`drop database if exists ${pg.escapeIdentifier(name)} with (force)`);
    await admin.end();
    await deleteQueuePrefix(redisUrl, prefix);
    await deleteQueuePrefix(redisUrl, `${prefix}-rl`);
  }
}

if (process.argv[1]?.endsWith("run.ts") || process.argv[1]?.endsWith("web.ts")) await main();
