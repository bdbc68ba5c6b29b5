import type { Job } from 'bullmq';
import { sql } from 'kysely';
import { addDays, dayInZone } from '../dates.ts';
import type { Executor } from '../db/database.ts';
import { findEditionByDate } from '../editions/edition.repository.ts';
import { selectDigestSections, type EditionSettings } from '../editions/edition.service.ts';
import type { Queues } from '../queue/queues.ts';

export interface DayPolls {
  day: string;
  /** Papers stored as featured on the day (Postgres). */
  papers: number;
  /** The latest poll job of the day BullMQ still keeps (completed: a day; failed: a week). */
  lastPoll: { state: string; at: string | null; fetched: number | null; inserted: number | null; updated: number | null; invalid: number | null; error: string | null } | null;
}

const numberOr = (value: unknown) => (typeof value === 'number' ? value : null);

function pollOf(job: Job, state: string): NonNullable<DayPolls['lastPoll']> {
  const result = (job.returnvalue ?? {}) as Record<string, unknown>;
  const at = job.finishedOn ?? job.processedOn ?? job.timestamp;
  return {
    state: typeof result.skipped === 'string' ? 'skipped' : state,
    at: at ? new Date(at).toISOString() : null,
    fetched: numberOr(result.fetched),
    inserted: numberOr(result.inserted),
    updated: numberOr(result.updated),
    invalid: numberOr(result.invalid),
    error: job.failedReason ? job.failedReason.slice(0, 500) : null,
  };
}

/**
 * Ingestion per day: papers featured (Postgres) and the latest `ingest-day` job with its counts or
 * error. Poll results live in BullMQ's job history only (src/app/handlers.ts returns the counts);
 * the recent ones are what an operator needs to see whether ingestion is healthy.
 */
export async function ingestionOverview(db: Executor, queues: Queues, days = 14): Promise<DayPolls[]> {
  const papers = queues.byName.papers;
  const [counts, ...jobLists] = await Promise.all([
    db
      .selectFrom('papers')
      .select(['featured_on', sql<number>`count(*)::int`.as('n')])
      .where('featured_on', 'is not', null)
      .groupBy('featured_on')
      .orderBy('featured_on', 'desc')
      .limit(days)
      .execute(),
    ...(['active', 'waiting', 'delayed', 'completed', 'failed'] as const).map(async (state) => ({ state, jobs: await papers.getJobs([state], 0, 499) })),
  ]);
  const latest = new Map<string, { job: Job; state: string }>();
  for (const { state, jobs } of jobLists) {
    for (const job of jobs) {
      if (job?.name !== 'ingest-day' || typeof job.data?.day !== 'string') continue;
      const known = latest.get(job.data.day);
      if (!known || job.timestamp > known.job.timestamp) latest.set(job.data.day, { job, state });
    }
  }
  const byDay = new Map<string, DayPolls>();
  for (const row of counts) byDay.set(String(row.featured_on), { day: String(row.featured_on), papers: row.n, lastPoll: null });
  for (const [day, { job, state }] of latest) {
    const entry = byDay.get(day) ?? { day, papers: 0, lastPoll: null };
    entry.lastPoll = pollOf(job, state);
    byDay.set(day, entry);
  }
  return [...byDay.values()].sort((a, b) => b.day.localeCompare(a.day)).slice(0, days);
}

/**
 * The day the next daily digest will cover: the day before the local date of its run
 * (src/editions/digest-day.ts); once that day's edition exists, the next run's day.
 */
export async function nextDigestDay(db: Executor, timeZone: string, now: Date = new Date()): Promise<string> {
  const day = addDays(dayInZone(timeZone, now), -1);
  return (await findEditionByDate(db, 'daily', day)) ? addDays(day, 1) : day;
}

/** The sections and papers the next digest would show if it were built now (the general digest, no personal topics). */
export async function nextDigestPreview(db: Executor, settings: EditionSettings, timeZone: string) {
  const day = await nextDigestDay(db, timeZone);
  const sections = await selectDigestSections(db, day, settings);
  return {
    day,
    sections: sections.map((s) => ({
      title: s.title,
      papers: s.papers.map((p) => ({ arxivId: p.arxiv_id, title: p.title, upvotes: p.upvotes, growth: p.upvoteGrowth24h ?? null })),
    })),
  };
}
