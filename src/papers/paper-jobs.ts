import { withAdvisoryLock } from '../db/advisory-lock.ts';
import type { Database, Executor } from '../db/database.ts';
import { recentUtcDays } from '../dates.ts';
import { ingestHfDays, type IngestSummary } from './ingest.ts';
import { upsertArxivPapers } from './paper.repository.ts';
import { ARXIV_MAX_RESULTS_PER_REQUEST, type ArxivClient } from './sources/arxiv.ts';
import type { HfDailyPapersClient } from './sources/hf-daily-papers.ts';
import type { SourceLog } from './sources/http.ts';

/** The days one scheduled poll covers: today (UTC) and the days before it, newest first. */
export function daysToPoll(now: Date, days: number): string[] {
  return recentUtcDays(now, days);
}

/**
 * Polls one Daily Papers day. A transaction-scoped advisory lock per day makes a second poll of
 * the same day (the CLI while the scheduler runs, or two workers) step aside instead of
 * overlapping; the queue's deduplication id already keeps scheduled polls apart.
 */
export async function ingestDay(
  deps: { db: Database; hf: Pick<HfDailyPapersClient, 'fetchDay'>; log?: SourceLog },
  day: string,
): Promise<IngestSummary | 'already_running'> {
  const polled = await withAdvisoryLock(deps.db, `ingest-day:${day}`, (trx) => ingestHfDays(trx, deps.hf, { dates: [day], log: deps.log }), { transaction: true });
  return polled.locked ? polled.value : 'already_running';
}

/** arXiv allows at most this many ids per query; we stay well below it to keep responses small. */
const ENRICH_IDS_PER_REQUEST = Math.min(100, ARXIV_MAX_RESULTS_PER_REQUEST);

/**
 * Fills categories and the full author list from arXiv for papers featured on `day` that have no
 * categories yet: one request per call, because the arXiv queue's limiter spaces calls 3 s apart.
 * Returns how many papers it enriched and whether more remain (the caller enqueues another round).
 */
export async function enrichDayFromArxiv(
  deps: { db: Executor; arxiv: Pick<ArxivClient, 'query'> },
  day: string,
): Promise<{ enriched: number; remaining: boolean }> {
  const rows = await deps.db
    .selectFrom('papers')
    .select('arxiv_id')
    .where('featured_on', '=', day)
    .where('primary_category', 'is', null)
    .orderBy('arxiv_id')
    .limit(ENRICH_IDS_PER_REQUEST + 1)
    .execute();
  if (rows.length === 0) return { enriched: 0, remaining: false };
  const ids = rows.slice(0, ENRICH_IDS_PER_REQUEST).map((r) => r.arxiv_id);
  const feed = await deps.arxiv.query({ ids, maxResults: ids.length });
  const counts = await upsertArxivPapers(deps.db, feed.papers);
  return { enriched: counts.inserted + counts.updated, remaining: rows.length > ENRICH_IDS_PER_REQUEST };
}
