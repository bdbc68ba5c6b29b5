/**
 * The personal scenario of `npm run bench -- --personal` (issue #10, "How it must perform"), run by
 * bench/delivery.ts after the uniform send, in the same run: same database, sink, worker settings
 * and machine, so the two send rates compare.
 *
 *  1. The uniform readers get topics (2,000 distinct sets, Zipf-like), 30% weekly, zones over the
 *     world (bench/topic-sets.ts); matching every topic of them against one period is timed.
 *  2. The daily edition of 2025-12-25 (daily readers) and the weekly one of 2025-12-22 (weekly
 *     readers) go through the real planner (in this process, so its MJML renders are counted) and
 *     the real `paperboy worker` processes: send rate, variants rendered, worker RSS, duplicates.
 *  3. Five consecutive days (editions of 2025-12-22 … 26) for a smaller set of new readers, every
 *     hourly tick through deliver-due; repeats of a paper to one reader are derived from the
 *     ledger → variant (or edition) → papers, as the product derives them.
 */
import { performance } from 'node:perf_hooks';
import type { ChildProcess } from 'node:child_process';
import { sql } from 'kysely';
import type { Config } from '../src/config.ts';
import type { Database } from '../src/db/database.ts';
import type { AppServices } from '../src/app/services.ts';
import { countDeliveriesByStatus } from '../src/delivery/delivery.repository.ts';
import { planRun } from '../src/delivery/planner.ts';
import { ensureSendRun, findSendRunById } from '../src/delivery/send-run.repository.ts';
import { buildEdition } from '../src/editions/edition.service.ts';
import { spliceCounts } from '../src/editions/digest-splice.ts';
import { countVariantsRendered, matchTopics } from '../src/editions/variant.service.ts';
import { childPidsOf, commandLineOf, memoryOf } from './process-stats.ts';
import { benchReaders } from './topic-sets.ts';

type SinkMessage = { type: string; [key: string]: unknown };
export interface PersonalContext {
  db: Database;
  config: Config;
  services: AppServices;
  sink: { ask(type: string, extra?: Record<string, unknown>): Promise<SinkMessage> };
  /** Starts the worker processes and resolves once they are registered; stopWorkers ends them. */
  startWorkers(): Promise<ChildProcess[]>;
  stopWorkers(): Promise<unknown>;
  subscribers: number;
  fiveDayReaders: number;
  uniformSendRate: number;
  /** The uniform send's CPU per message (µs), for the same figures of the personal send. */
  uniformCpu: { worker: number; sink: number; postgres: number };
  /** CPU seconds so far of the sink, of every Postgres backend and of the machine. */
  cpuNow(workers: ChildProcess[]): { worker: number; sink: number; postgres: number; machine: number };
  log(line: string): void;
}

const ms = (t0: number) => performance.now() - t0;
const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** Peak RSS of the workers and of their MJML renderer children (src/email/mjml-renderer.ts), sampled. */
interface Peaks {
  rss: number;
  renderer: number;
}

/** A worker's MJML renderer child, if one runs now (it exits when idle). */
function rendererOf(workerPid: number): number | undefined {
  return childPidsOf(workerPid).find((pid) => commandLineOf(pid).some((arg) => arg.endsWith('mjml-process.ts')));
}

/** Waits until every run is sent, sampling peak RSS; a worker that dies fails the bench. */
async function waitForRuns(ctx: PersonalContext, workers: ChildProcess[], runIds: number[], peak: Peaks): Promise<void> {
  let lastLog = performance.now();
  for (;;) {
    for (const w of workers) {
      const mem = memoryOf(w.pid!);
      peak.rss = Math.max(peak.rss, mem.peak, mem.rss);
      // The renderer's memory is not gone, only moved out of the worker for the time it renders
      // (VmHWM: its peak so far, whenever this samples it).
      const renderer = rendererOf(w.pid!);
      if (renderer !== undefined) peak.renderer = Math.max(peak.renderer, memoryOf(renderer).peak);
    }
    const runs = await Promise.all(runIds.map((id) => findSendRunById(ctx.db, id)));
    if (runs.every((r) => r?.status === 'sent')) return;
    const exited = workers.find((w) => w.exitCode !== null);
    if (exited) throw new Error(`a worker exited with ${exited.exitCode}`);
    if (performance.now() - lastLog > 5_000) {
      const stats = await ctx.sink.ask('stats');
      ctx.log(`  ${fmt(stats.accepted as number)} accepted, worker RSS ${workers.map((w) => fmt(memoryOf(w.pid!).rss / 1048576)).join('/')} MB`);
      lastLog = performance.now();
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** (reader, paper) pairs received more than once, from sent ledger rows → variant or edition → papers. */
async function repeatedPapers(db: Database, fromSubscriberId: number): Promise<{ repeats: number; pairs: number; readers: number }> {
  const { rows } = await sql<{ repeats: number; pairs: number; readers: number }>`
    with received as (
      select d.subscriber_id, paper
      from deliveries d
      join editions e on e.id = d.edition_id
      left join edition_variants v on v.id = d.variant_id
      cross join lateral unnest(coalesce(v.paper_ids, e.paper_ids)) as paper
      where d.status = 'sent' and d.subscriber_id > ${fromSubscriberId})
    select (select count(*) from (select 1 from received group by subscriber_id, paper having count(*) > 1) r)::int as repeats,
           (select count(*) from received)::int as pairs,
           (select count(distinct subscriber_id) from received)::int as readers`.execute(db);
  return rows[0]!;
}

export async function runPersonalScenario(ctx: PersonalContext): Promise<Record<string, string | number>> {
  const { db, config, log } = ctx;
  const settings = { publicUrl: config.publicUrl, maxPapers: config.digestMaxPapers };
  const results: Record<string, string | number> = { scenario: 'personal', subscribers: ctx.subscribers };
  log('');
  log(`personal scenario: ${fmt(ctx.subscribers)} readers, 2,000 distinct topic sets (Zipf-like), 30% weekly, 16 zones`);

  // 1. Topics for the uniform readers, in chunks (ids 1 … N, as the uniform bench inserted them).
  let t0 = performance.now();
  const readers = benchReaders(ctx.subscribers);
  for (let from = 0; from < readers.length; from += 10_000) {
    const chunk = readers.slice(from, from + 10_000).map((r, i) => ({ id: from + i + 1, ...r }));
    await sql`update subscribers s set topics = v.topics, frequency = v.frequency, time_zone = v.time_zone
      from jsonb_to_recordset(${JSON.stringify(chunk)}::jsonb) as v(id int, topics text[], frequency text, time_zone text)
      where s.id = v.id`.execute(db);
  }
  await sql`analyze subscribers`.execute(db);
  log(`readers given topics in ${fmt(ms(t0) / 1000, 1)} s`);

  const daily = await buildEdition(db, 'daily', '2025-12-25', settings);
  const weekly = await buildEdition(db, 'weekly', '2025-12-22', settings);
  const { rows: topicRows } = await sql<{ topic: string }>`select distinct unnest(topics) as topic from subscribers where status = 'active'`.execute(db);
  const topics = topicRows.map((r) => r.topic);
  t0 = performance.now();
  await matchTopics(db, daily, topics);
  results.matchDailyMs = Math.round(ms(t0));
  t0 = performance.now();
  await matchTopics(db, weekly, topics);
  results.matchWeeklyMs = Math.round(ms(t0));
  results.distinctTopics = topics.length;
  results.distinctTopicSets = Number((await sql<{ n: number }>`select count(distinct topics)::int as n from subscribers`.execute(db)).rows[0]!.n);

  // 2. The personal send: both editions, real planner, real workers. Planning (which renders
  // every variant) finishes before the workers start, so the send rate measures sending alone,
  // as the uniform one does (its planning takes under a second).
  await ctx.sink.ask('reset');
  const renderedBefore = countVariantsRendered();
  const spliceBefore = { ...spliceCounts };
  const runs = [await ensureSendRun(db, daily.id), await ensureSendRun(db, weekly.id)];
  t0 = performance.now();
  let planMs = 0;
  for (const run of runs) planMs += (await planRun(ctx.services.delivery, run.id)).planMs;
  results.planMs = planMs;
  log(`planning both runs: ${fmt(planMs)} ms (all ${fmt(ms(t0))} ms with enqueueing)`);
  const workers = await ctx.startWorkers();
  const peak: Peaks = { rss: 0, renderer: 0 };
  const cpuBefore = ctx.cpuNow(workers);
  await waitForRuns(ctx, workers, runs.map((r) => r.id), peak);
  const cpuAfter = ctx.cpuNow(workers);
  const stats = await ctx.sink.ask('stats');
  await ctx.stopWorkers();
  const sinkSeconds = ((stats.lastAt as number) - (stats.firstAt as number)) / 1000;
  const sendRate = (stats.accepted as number) / sinkSeconds;
  let sent = 0;
  let failed = 0;
  for (const run of runs) {
    const counts = await countDeliveriesByStatus(db, run.id);
    sent += counts.sent;
    failed += counts.failed + counts.unknown;
  }
  const selections = await sql<{ selections: number; variants: number; stored: number }>`
    select count(distinct (d.edition_id, coalesce(d.variant_id, 0)))::int as selections,
           count(distinct d.variant_id)::int as variants,
           (select count(*) from edition_variants where edition_id in (${daily.id}, ${weekly.id}))::int as stored
    from deliveries d where d.run_id in (${runs[0]!.id}, ${runs[1]!.id})`.execute(db);
  const sel = selections.rows[0]!;
  results.sent = sent;
  results.failedOrUnknown = failed;
  results.acceptedAtSink = stats.accepted as number;
  results.duplicatesAtSink = stats.duplicates as number;
  results.sendMessagesPerSecond = Math.round(sendRate);
  results.uniformSendMessagesPerSecond = Math.round(ctx.uniformSendRate);
  results.ratioToUniform = Number((sendRate / ctx.uniformSendRate).toFixed(3));
  results.variantsRendered = countVariantsRendered() - renderedBefore;
  results.mjmlCalls = spliceCounts.mjmlCalls - spliceBefore.mjmlCalls;
  results.cardsRendered = spliceCounts.cards - spliceBefore.cards;
  results.distinctSelections = sel.selections;
  results.variantsStored = sel.stored;
  results.variantsUsed = sel.variants;
  results.workerPeakRssMB = Math.round(peak.rss / 1048576);
  const perMessage = (seconds: number) => Math.round((seconds * 1e6) / Math.max(1, sent));
  results.workerCpuMicrosPerMessage = perMessage(cpuAfter.worker - cpuBefore.worker);
  results.sinkCpuMicrosPerMessage = perMessage(cpuAfter.sink - cpuBefore.sink);
  results.postgresCpuMicrosPerMessage = perMessage(Math.max(0, cpuAfter.postgres - cpuBefore.postgres));
  results.machineCpuMicrosPerMessage = perMessage(cpuAfter.machine - cpuBefore.machine);
  results.rendererPeakRssMB = Math.round(peak.renderer / 1048576);

  // 3. Five consecutive days for new readers, every hourly tick through deliver-due.
  await sql`update subscribers set status = 'unsubscribed', unsubscribed_at = now() where status = 'active'`.execute(db);
  const before = Number((await sql<{ max: number }>`select coalesce(max(id), 0)::int as max from subscribers`.execute(db)).rows[0]!.max);
  const fiveDay = benchReaders(ctx.fiveDayReaders, { seed: 7, weeklyShare: 0 }).map((r, i) => ({
    email: `five${i}@example.org`, status: 'active' as const, confirmed_at: new Date('2025-12-01T00:00:00Z'), ...r,
  }));
  for (let i = 0; i < fiveDay.length; i += 5_000) await db.insertInto('subscribers').values(fiveDay.slice(i, i + 5_000)).execute();
  await ctx.sink.ask('reset');
  const fiveWorkers = await ctx.startWorkers();
  // Here the worker also plans (deliver-due enqueues the planning job), so it renders variants.
  const fivePeak: Peaks = { rss: 0, renderer: 0 };
  t0 = performance.now();
  const fiveRuns = new Set<number>();
  // Every tick of the UTC days 2025-12-23 … 27: each reader's 08:00 falls once a day, and the due
  // daily edition is the UTC day before the tick (due.ts), so 2025-12-22 … 26.
  for (let at = Date.parse('2025-12-23T00:00:00Z'); at < Date.parse('2025-12-28T00:00:00Z'); at += 3_600_000) {
    const due = await ctx.services.deliverDue(new Date(at));
    const ids = due.flatMap((r) => (r.runId ? [r.runId] : []));
    ids.forEach((id) => fiveRuns.add(id));
    // Each tick's sends finish before the next, as an hour apart they would.
    await waitForRuns(ctx, fiveWorkers, ids, fivePeak);
  }
  const fiveStats = await ctx.sink.ask('stats');
  await ctx.stopWorkers();
  const repeats = await repeatedPapers(db, before);
  results.fiveDayReaders = ctx.fiveDayReaders;
  results.fiveDayRuns = fiveRuns.size;
  results.fiveDaySent = Number((await sql<{ n: number }>`select count(*)::int as n from deliveries where status = 'sent' and subscriber_id > ${before}`.execute(db)).rows[0]!.n);
  results.fiveDayReadersReached = repeats.readers;
  results.fiveDayPapersReceived = repeats.pairs;
  results.fiveDayRepeats = repeats.repeats;
  results.fiveDayDuplicatesAtSink = fiveStats.duplicates as number;
  results.fiveDaySeconds = Number((ms(t0) / 1000).toFixed(1));
  results.fiveDayWorkerPeakRssMB = Math.round(fivePeak.rss / 1048576);
  results.fiveDayRendererPeakRssMB = Math.round(fivePeak.renderer / 1048576);

  const line = (what: string, value: string, ceiling: string) => log(`${what.padEnd(58)} ${value.padStart(22)}   ceiling ${ceiling}`);
  log('');
  line('matching topics, all readers of one period (daily / weekly)', `${fmt(results.matchDailyMs)} / ${fmt(results.matchWeeklyMs)} ms`, '< 10,000 ms');
  line(`  (${fmt(results.distinctTopics)} distinct topics in ${fmt(results.distinctTopicSets)} topic sets)`, '', '—');
  line('planning both runs (match, select, render variants, ledger)', `${fmt(planMs)} ms`, '—');
  line('personal send rate (first → last accepted)', `${fmt(sendRate)} msg/s`, '—');
  line('personal / uniform send rate, same run', `${results.ratioToUniform} (uniform ${fmt(ctx.uniformSendRate)})`, '≥ 0.9');
  line('CPU µs per message, personal (uniform): worker', `${results.workerCpuMicrosPerMessage} (${ctx.uniformCpu.worker})`, '—');
  line('  sink / Postgres', `${results.sinkCpuMicrosPerMessage} (${ctx.uniformCpu.sink}) / ${results.postgresCpuMicrosPerMessage} (${ctx.uniformCpu.postgres})`, '—');
  line('  whole machine while sending', `${results.machineCpuMicrosPerMessage}`, '—');
  line('variants built (spliced from parts) / distinct selections', `${results.variantsRendered} / ${sel.selections}`, '≤ 1 each');
  line('  (MJML calls / cards rendered, planning both runs)', `${results.mjmlCalls} / ${results.cardsRendered}`, '—');
  line('  (variant rows stored / variants used by the ledger)', `${sel.stored} / ${sel.variants}`, 'equal');
  line('worker peak RSS (personal send / five days, planning too)', `${results.workerPeakRssMB} / ${results.fiveDayWorkerPeakRssMB} MB`, '< 200 MB');
  const rendererMB = (mb: number) => (mb === 0 ? 'none' : `${mb} MB`);
  line('  (MJML renderer child, while it runs: send / five days)', `${rendererMB(results.rendererPeakRssMB)} / ${rendererMB(results.fiveDayRendererPeakRssMB)}`, '—');
  line('duplicates at the sink (personal send / five days)', `${results.duplicatesAtSink} / ${results.fiveDayDuplicatesAtSink}`, '0');
  line(`repeats of a paper to one reader over 5 days (${fmt(ctx.fiveDayReaders)} readers)`, String(repeats.repeats), '0');
  line(`  (${fmt(results.fiveDaySent)} digests in ${fiveRuns.size} runs, ${fmt(repeats.pairs)} papers received)`, `${results.fiveDaySeconds} s`, '—');
  line('sent / failed or unknown (personal send)', `${fmt(sent)} / ${failed}`, `${fmt(ctx.subscribers)} / 0`);
  return results;
}

/** Whether the personal figures meet issue #10's targets (the bench exits 1 when not). */
export function personalTargetsMet(r: Record<string, string | number>): boolean {
  return (
    (r.matchDailyMs as number) < 10_000 &&
    (r.ratioToUniform as number) >= 0.9 &&
    (r.variantsRendered as number) <= (r.distinctSelections as number) &&
    (r.workerPeakRssMB as number) < 200 &&
    (r.fiveDayWorkerPeakRssMB as number) < 200 &&
    r.duplicatesAtSink === 0 &&
    r.fiveDayDuplicatesAtSink === 0 &&
    r.fiveDayRepeats === 0 &&
    r.failedOrUnknown === 0
  );
}
