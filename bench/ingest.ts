/**
 * Ingest benchmark: 10,000 generated Daily Papers items, served by a local HTTP server in a worker
 * thread, fetched through the real client (pages of 100) and written by ingestHfDays into a fresh
 * database. Prints items/second for a first ingest (all inserts) and a second one (all updates).
 *
 *   npx tsx bench/ingest.ts            BENCH_DATABASE_URL=postgres://…/postgres to change server
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import pg from 'pg';
import { createDatabase, ensureDatabaseExists } from '../src/db/database.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { ingestHfDays } from '../src/papers/ingest.ts';
import { createHfDailyPapersClient, type HfDailyPapersClient } from '../src/papers/sources/hf-daily-papers.ts';

const DAYS = 10;
const ITEMS_PER_DAY = 1_000;
const PAGE_SIZE = 100;

function day(index: number): string {
  return new Date(Date.UTC(2025, 11, 1 + index)).toISOString().slice(0, 10);
}

/** An item with the real API's shape and realistic sizes (abstract ~1.2 kB, 6 authors). */
function generateItem(dayIndex: number, n: number): unknown {
  const date = day(dayIndex);
  const id = `25${String(11 + (dayIndex % 2)).padStart(2, '0')}.${String(dayIndex * ITEMS_PER_DAY + n).padStart(5, '0')}`;
  const words = 'model data learning diffusion token attention benchmark reasoning vision language training inference'.split(' ');
  const sentence = (k: number) => Array.from({ length: 14 }, (_, i) => words[(k * 7 + i * 3) % words.length]).join(' ');
  const summary = Array.from({ length: 10 }, (_, k) => sentence(n + k)).join('. ');
  const user = { _id: '0'.repeat(24), avatarUrl: '/avatars/x.svg', fullname: 'Bench', name: 'bench', type: 'user', isPro: false, isHf: false, isMod: false, followerCount: 0 };
  return {
    paper: {
      id,
      authors: Array.from({ length: 6 }, (_, a) => ({ _id: randomBytes(12).toString('hex'), name: `Author ${n}-${a}`, hidden: false })),
      publishedAt: `${date}T00:00:00.000Z`,
      submittedOnDailyAt: `${date}T13:00:00.000Z`,
      title: `Paper ${id}: ${sentence(n)}`,
      submittedOnDailyBy: user,
      summary,
      upvotes: (n * 37) % 200,
      discussionId: randomBytes(12).toString('hex'),
      ai_summary: sentence(n + 3),
      ai_keywords: words.slice(0, 5),
      githubRepo: n % 3 === 0 ? `https://github.com/bench/p${n}` : undefined,
    },
    publishedAt: `${date}T13:00:00.000Z`,
    title: `Paper ${id}`,
    summary,
    thumbnail: `https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/${id}.png`,
    numComments: n % 6,
    submittedBy: user,
    isAuthorParticipating: false,
  };
}

/** The fake API runs in a worker thread so serving does not share the ingest's event loop. */
const serverSource = `
const { createServer } = require('node:http');
const { parentPort, workerData } = require('node:worker_threads');
const pages = new Map(workerData.pages.map(([key, body]) => [key, Buffer.from(body)]));
const empty = Buffer.from('[]');
const server = createServer((req, res) => {
  const q = new URL(req.url, 'http://x').searchParams;
  const body = pages.get(q.get('date') + '/' + q.get('p')) || empty;
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
  res.end(body);
});
server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
parentPort.on('message', (m) => { if (m === 'close') { server.closeAllConnections(); server.close(() => process.exit(0)); } });
`;

async function main(): Promise<void> {
  const pages: [string, string][] = [];
  for (let d = 0; d < DAYS; d++) {
    const items = Array.from({ length: ITEMS_PER_DAY }, (_, n) => generateItem(d, n));
    for (let p = 0; p * PAGE_SIZE < items.length; p++) {
      pages.push([`${day(d)}/${p}`, JSON.stringify(items.slice(p * PAGE_SIZE, (p + 1) * PAGE_SIZE))]);
    }
  }
  const payloadBytes = pages.reduce((sum, [, body]) => sum + Buffer.byteLength(body), 0);

  const worker = new Worker(serverSource, { eval: true, workerData: { pages } });
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });

  const base = new URL(process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
  const name = `paperboy_bench_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const url = new URL(base);
  url.pathname = `/${name}`;
  await ensureDatabaseExists(url.toString());
  const db = createDatabase(url.toString(), { max: 4 });
  try {
    await migrateToLatest(db);
    const real = createHfDailyPapersClient({ baseUrl: `http://127.0.0.1:${port}`, pageSize: PAGE_SIZE, retries: 0 });
    const dates = Array.from({ length: DAYS }, (_, d) => day(d));

    const run = async (label: string) => {
      let fetchMs = 0;
      const timed: Pick<HfDailyPapersClient, 'fetchDay'> = {
        async fetchDay(date, options) {
          const started = performance.now();
          try {
            return await real.fetchDay(date, options);
          } finally {
            fetchMs += performance.now() - started;
          }
        },
      };
      const started = performance.now();
      const summary = await ingestHfDays(db, timed, { dates });
      const totalMs = performance.now() - started;
      const rate = summary.fetched / (totalMs / 1000);
      console.log(
        `${label.padEnd(22)} ${summary.fetched} items in ${(totalMs / 1000).toFixed(2)} s = ${Math.round(rate)} items/s ` +
          `(fetch+validate ${(fetchMs / 1000).toFixed(2)} s, store ${((totalMs - fetchMs) / 1000).toFixed(2)} s; ` +
          `inserted ${summary.inserted}, updated ${summary.updated}, invalid ${summary.invalid})`,
      );
      return rate;
    };

    console.log(`ingest bench: ${DAYS} days x ${ITEMS_PER_DAY} items, pages of ${PAGE_SIZE}, ${(payloadBytes / 1e6).toFixed(1)} MB of JSON, Node ${process.version}`);
    const first = await run('first ingest (insert)');
    await run('re-ingest (update)');
    console.log(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`);
    console.log(`RESULT ${Math.round(first)} items/s`);
  } finally {
    await db.destroy();
    worker.postMessage('close');
    const admin = new pg.Client({ connectionString: base.toString() });
    await admin.connect();
    await admin.query(`drop database if exists ${pg.escapeIdentifier(name)} with (force)`);
    await admin.end();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
