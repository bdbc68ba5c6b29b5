import { sql } from 'kysely';
import type { Executor } from '../db/database.ts';
import type { PaperRecord } from './hf-item.ts';
import { dedupeByArxivId, insertPaperStats, upsertPapers, type UpsertCounts } from './paper.repository.ts';
import type { HfDailyPapersClient, HfDayFetch, InvalidHfItem } from './sources/hf-daily-papers.ts';
import { parseIsoDay } from '../dates.ts';
import type { SourceLog } from './sources/http.ts';

export interface IngestHfDaysOptions {
  /** Daily Papers days as YYYY-MM-DD; see recentUtcDays for "today and the previous days". */
  dates: readonly string[];
  log?: SourceLog;
  /** Time stamped on this poll's paper_stats rows; defaults to now. */
  capturedAt?: Date;
  signal?: AbortSignal;
}

export interface DateIngestSummary {
  date: string;
  /** Items received, valid or not. */
  fetched: number;
  pages: number;
  /** Distinct papers written (inserted + updated). */
  inserted: number;
  updated: number;
  /** Valid items whose id appeared earlier the same day (merged, last one wins). */
  duplicates: number;
  invalid: InvalidHfItem[];
  /** Valid items the database refused, each skipped with the reason (the rest were stored). */
  rejected: RejectedPaper[];
  truncated: boolean;
}

export interface RejectedPaper {
  arxivId: string;
  reason: string;
}

export interface IngestSummary {
  fetched: number;
  inserted: number;
  updated: number;
  /** Invalid items across all dates; details per date. */
  invalid: number;
  perDate: DateIngestSummary[];
}

/**
 * Polls Daily Papers for each date and stores the result: papers upserted by arXiv id, plus one
 * paper_stats snapshot per paper for growth. Every date is fetched before anything is written, so
 * a failed request (after the client's retries) or a malformed response fails the run and stores
 * nothing; then each date is written in one transaction, papers and their snapshots together.
 * Invalid items are skipped and reported. Running it again on unchanged data only moves
 * updated_at and adds snapshots.
 */
export async function ingestHfDays(
  db: Executor,
  client: Pick<HfDailyPapersClient, 'fetchDay'>,
  options: IngestHfDaysOptions,
): Promise<IngestSummary> {
  const dates = [...new Set(options.dates)];
  for (const date of dates) parseIsoDay(date);
  const capturedAt = options.capturedAt ?? new Date();
  const log = options.log;

  // Sequential: the source is rate limited, and a day is usually one or two pages.
  const fetchedDays: HfDayFetch[] = [];
  for (const date of dates) fetchedDays.push(await client.fetchDay(date, { signal: options.signal }));

  const perDate: DateIngestSummary[] = [];
  for (const day of fetchedDays) {
    const counts = await storePaperBatch(db, day.records, capturedAt);
    const distinct = new Set(day.records.map((r) => r.arxivId)).size;
    const summary: DateIngestSummary = {
      date: day.date,
      fetched: day.itemCount,
      pages: day.pages,
      inserted: counts.inserted,
      updated: counts.updated,
      duplicates: day.records.length - distinct,
      invalid: day.invalid,
      rejected: counts.rejected,
      truncated: day.truncated,
    };
    perDate.push(summary);
    log?.info(
      { date: day.date, fetched: summary.fetched, inserted: summary.inserted, updated: summary.updated, invalid: summary.invalid.length },
      'ingested Daily Papers day',
    );
    if (counts.rejected.length > 0) log?.warn({ date: day.date, rejected: counts.rejected }, 'skipped Daily Papers items the database refused');
  }

  return {
    fetched: sum(perDate, (d) => d.fetched),
    inserted: sum(perDate, (d) => d.inserted),
    updated: sum(perDate, (d) => d.updated),
    invalid: sum(perDate, (d) => d.invalid.length + d.rejected.length),
    perDate,
  };
}


/** Writes papers from an already validated batch (e.g. the bundled sample file) the same way a poll does. */
export async function storePaperBatch(
  db: Executor,
  records: readonly PaperRecord[],
  capturedAt: Date = new Date(),
): Promise<UpsertCounts & { rejected: RejectedPaper[] }> {
  const unique = dedupeByArxivId(records);
  return inTransaction(db, (trx) =>
    writeSkippingRefused(trx, unique, async (rows) => {
      const counts = await upsertPapers(trx, rows);
      await insertPaperStats(trx, rows, capturedAt);
      return counts;
    }),
  );
}

/**
 * Data errors (SQLSTATE class 22: a value the column cannot hold) and integrity violations (23)
 * belong to one item; anything else (a lost connection, a failing trigger) fails the whole write.
 */
const isItemError = (error: unknown) => /^2[23]/.test(String((error as { code?: unknown }).code ?? ''));

/**
 * Writes the batch in one go; if the database refuses a value in it, writes item by item, each
 * under its own savepoint, and skips (with the reason) only the items it refuses: one bad item
 * never costs the day. Must run inside a transaction.
 */
export async function writeSkippingRefused<T extends { arxivId: string }>(
  trx: Executor,
  records: T[],
  write: (rows: T[]) => Promise<UpsertCounts>,
): Promise<UpsertCounts & { rejected: RejectedPaper[] }> {
  await sql`savepoint paper_batch`.execute(trx);
  try {
    const counts = await write(records);
    await sql`release savepoint paper_batch`.execute(trx);
    return { ...counts, rejected: [] };
  } catch (error) {
    if (!isItemError(error)) throw error;
    await sql`rollback to savepoint paper_batch`.execute(trx);
  }
  const total: UpsertCounts & { rejected: RejectedPaper[] } = { inserted: 0, updated: 0, rejected: [] };
  for (const record of records) {
    await sql`savepoint paper_item`.execute(trx);
    try {
      const counts = await write([record]);
      await sql`release savepoint paper_item`.execute(trx);
      total.inserted += counts.inserted;
      total.updated += counts.updated;
    } catch (error) {
      if (!isItemError(error)) throw error;
      await sql`rollback to savepoint paper_item`.execute(trx);
      total.rejected.push({ arxivId: record.arxivId, reason: (error as Error).message });
    }
  }
  return total;
}

/** Runs `work` in a transaction, or inside the caller's when `db` already is one. */
async function inTransaction<T>(db: Executor, work: (trx: Executor) => Promise<T>): Promise<T> {
  if (db.isTransaction) return work(db);
  return db.transaction().execute(work);
}

function sum<T>(items: readonly T[], pick: (item: T) => number): number {
  return items.reduce((total, item) => total + pick(item), 0);
}
