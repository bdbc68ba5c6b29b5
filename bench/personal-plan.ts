import { sql } from 'kysely';
/**
 * Planning personal digests at scale (issue #10), the part of the personal scenario that is new:
 * 100,000 readers, 2,000 distinct topic sets drawn Zipf-like, 30% weekly, zones spread; plans the
 * daily edition of 2025-12-26 for every daily reader (matching all topics in one statement,
 * grouping, selections, variants, ledger rows). Sending is not measured here (`npm run bench`'s
 * delivery scenario covers the send path, which per message is the same splicing).
 * Run: npx tsx bench/personal-plan.ts
 */
import { createTestDatabase } from '../test/helpers/db.ts';
import { importPapersFile, sampleDataFile } from '../src/papers/import-file.ts';
import { buildEdition } from '../src/editions/edition.service.ts';
import { preparePlan, planPersonalRange } from '../src/delivery/personal-plan.ts';
import { ensureSendRun, beginPlanning } from '../src/delivery/send-run.repository.ts';
import { spliceCounts } from '../src/editions/digest-splice.ts';
import { countVariantsRendered } from '../src/editions/variant.service.ts';

const t = await createTestDatabase();
try {
  await importPapersFile(t.db, sampleDataFile);
  const words = ['diffusion', 'autoregressive', 'video generation', 'language models', 'image generation', 'reinforcement learning', 'quantization', 'multimodal', 'speech', 'tokenizer', 'watermark', 'reasoning', '3d', 'flow matching', 'retrieval', 'navigation', 'crystal', 'decoding', 'masked', 'transformer'];
  // 2,000 distinct topic sets, drawn Zipf-like.
  const sets: string[][] = [];
  for (let i = 0; sets.length < 2000; i++) {
    const n = 1 + (i % 3);
    sets.push(Array.from({ length: n }, (_, k) => words[(i * 7 + k * 13) % words.length]!).concat([`t${i}`]));
  }
  const zones = ['Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Tokyo', 'UTC', 'Asia/Kolkata', 'America/Los_Angeles', 'Europe/London'];
  const harmonic = Array.from({ length: 2000 }, (_, i) => 1 / (i + 1));
  const total = harmonic.reduce((a, b) => a + b, 0);
  const cdf: number[] = [];
  harmonic.reduce((acc, h, i) => ((cdf[i] = acc + h / total), acc + h / total), 0);
  const pick = (r: number) => cdf.findIndex((c) => c >= r);
  // A fixed seed (LCG), so runs draw the same readers.
  let seed = 42;
  const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
  const started = Date.now();
  for (let b = 0; b < 100; b++) {
    const rows = Array.from({ length: 1000 }, (_, j) => {
      const i = b * 1000 + j;
      return { email: `r${i}@bench.test`, status: 'active' as const, confirmed_at: new Date('2025-12-01'), topics: sets[Math.max(0, pick(random()))]!, frequency: (i % 10 < 3 ? 'weekly' : 'daily') as 'daily' | 'weekly', time_zone: zones[i % zones.length]! };
    });
    await t.db.insertInto('subscribers').values(rows).execute();
  }
  console.log(`100,000 readers inserted in ${Date.now() - started} ms`);
  const edition = await buildEdition(t.db, 'daily', '2025-12-26', { publicUrl: 'https://x.test', maxPapers: 10 });
  const run = await ensureSendRun(t.db, edition.id);
  const begun = (await beginPlanning(t.db, run.id, 500))!;
  const t0 = Date.now();
  const ctx = await preparePlan(t.db, begun, edition, { publicUrl: 'https://x.test', maxPapers: 10 });
  const tMatch = Date.now() - t0;
  let planned = 0;
  for (let c = 0; c < begun.plan_max_subscriber_id!; c += 20_000) {
    planned += (await planPersonalRange(t.db, ctx, { afterSubscriberId: c, throughSubscriberId: Math.min(c + 20_000, begun.plan_max_subscriber_id!), cutoff: begun.plan_started_at! })).planned;
  }
  const tPlan = Date.now() - t0;
  const distinct = await sql<{ n: number }>`select count(distinct coalesce(variant_id, 0))::int as n from deliveries where run_id = ${run.id}`.execute(t.db);
  const rows: [string, string, string][] = [
    ['matching all topics of the run (one statement)', `${tMatch} ms`, '< 10 s'],
    ['planning every daily reader (match, group, select, render, ledger)', `${tPlan} ms`, '—'],
    ['ledger rows', String(planned), '—'],
    ['variants built (spliced from parts) / distinct selections', `${countVariantsRendered()} / ${distinct.rows[0]!.n}`, '≤ 1 each'],
    ['MJML calls / cards rendered', `${spliceCounts.mjmlCalls} / ${spliceCounts.cards}`, '—'],
    ['bench process RSS', `${Math.round(process.memoryUsage().rss / 1e6)} MB`, '—'],
  ];
  for (const [what, value, ceiling] of rows) console.log(`${what.padEnd(70)} ${value.padStart(14)}   ceiling ${ceiling}`);
} finally {
  await t.drop();
}
