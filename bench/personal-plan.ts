import { sql } from 'kysely';
/**
 * Planning personal digests at scale (issue #10), the part of the personal scenario that is new:
 * 100,000 readers with the send scenario's topic sets (bench/topic-sets.ts: 2,000 distinct sets
 * drawn Zipf-like, 30% weekly, zones spread); plans the daily edition of 2025-12-26 for every daily
 * reader and the weekly of 2025-12-22 for every weekly one (matching all topics in one statement,
 * grouping, selections, variants built from parts rendered once, ledger rows). Sending is not measured here (`npm run bench`'s
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
import { benchReaders } from './topic-sets.ts';

const t = await createTestDatabase();
try {
  await importPapersFile(t.db, sampleDataFile);
  // The readers of the send scenario (bench/topic-sets.ts): 2,000 topic sets drawn Zipf-like from
  // the sample papers' words, 30% weekly, zones over the world.
  const readers = benchReaders(100_000);
  const started = Date.now();
  for (let b = 0; b < readers.length; b += 5_000) {
    const rows = readers.slice(b, b + 5_000).map((r, j) => ({ email: `r${b + j}@bench.test`, status: 'active' as const, confirmed_at: new Date('2025-12-01'), ...r }));
    await t.db.insertInto('subscribers').values(rows).execute();
  }
  await sql`analyze subscribers`.execute(t.db);
  console.log(`100,000 readers inserted in ${Date.now() - started} ms`);
  const settings = { publicUrl: 'https://x.test', maxPapers: 10 };
  const rows: [string, string, string][] = [];
  let planTotal = 0;
  for (const [kind, day] of [['daily', '2025-12-26'], ['weekly', '2025-12-22']] as const) {
    const edition = await buildEdition(t.db, kind, day, settings);
    const run = await ensureSendRun(t.db, edition.id);
    const begun = (await beginPlanning(t.db, run.id, 500))!;
    const variantsBefore = countVariantsRendered();
    const splicedBefore = { ...spliceCounts };
    const t0 = Date.now();
    const ctx = await preparePlan(t.db, begun, edition, settings);
    const tMatch = Date.now() - t0;
    let planned = 0;
    for (let c = 0; c < begun.plan_max_subscriber_id!; c += 20_000) {
      planned += (await planPersonalRange(t.db, ctx, { afterSubscriberId: c, throughSubscriberId: Math.min(c + 20_000, begun.plan_max_subscriber_id!), cutoff: begun.plan_started_at! })).planned;
    }
    const tPlan = Date.now() - t0;
    planTotal += tPlan;
    const distinct = await sql<{ n: number }>`select count(distinct variant_id)::int as n from deliveries where run_id = ${run.id}`.execute(t.db);
    rows.push(
      [`${kind} ${day}: matching all topics of the run (one statement)`, `${tMatch} ms`, '< 10 s'],
      [`${kind} ${day}: planning (match, group, select, build variants, ledger)`, `${tPlan} ms`, '—'],
      [`  ledger rows / groups`, `${planned} / ${ctx.counts.groups}`, '—'],
      [`  variants built (spliced from parts) / distinct variants in the ledger`, `${countVariantsRendered() - variantsBefore} / ${distinct.rows[0]!.n}`, '≤ 1 each'],
      [`  MJML calls / cards rendered`, `${spliceCounts.mjmlCalls - splicedBefore.mjmlCalls} / ${spliceCounts.cards - splicedBefore.cards}`, '—'],
    );
  }
  rows.push(['planning both editions', `${planTotal} ms`, '—'], ['bench process RSS', `${Math.round(process.memoryUsage().rss / 1e6)} MB`, '—']);
  for (const [what, value, ceiling] of rows) console.log(`${what.padEnd(76)} ${value.padStart(14)}   ceiling ${ceiling}`);
} finally {
  await t.drop();
}
