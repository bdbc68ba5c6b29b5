import { sql, type ExpressionBuilder, type RawBuilder } from 'kysely';
import type { DB } from '../db/schema.ts';
import type { Executor } from '../db/database.ts';
import { findTopPapersForDays, paperColumns } from './paper.repository.ts';
import type { Paper } from './paper.table.ts';
import { addDays, DAY_MS, parseIsoDay, utcDayOf, weekdayOf } from '../dates.ts';

/**
 * Ranking queries beyond "top of the day". The formula is explained in docs/trending.md.
 */

/** Exponent of the age penalty: higher means older papers fall faster. */
export const TRENDING_GRAVITY = 1.8;
/** Hours added to the age so a paper featured minutes ago does not divide by ~0. */
export const TRENDING_AGE_OFFSET_HOURS = 2;
/** A comment counts for half an upvote: it signals interest but is rarer and noisier. */
export const TRENDING_COMMENT_WEIGHT = 0.5;

export interface TrendingOptions {
  /** The instant the ranking is for (e.g. the digest's send time). */
  asOf: Date;
  /** Featured days considered, ending with asOf's UTC day. */
  days?: number;
  limit: number;
  /** Papers to leave out, e.g. those a subscriber already received. */
  excludeIds?: readonly string[];
}

export interface TrendingPaper extends Paper {
  score: number;
  /** Upvotes gained over the 24 hours before asOf, from paper_stats snapshots (0 without history). */
  upvoteGrowth24h: number;
}

/**
 * The trending score of `papers` as of `asOf`, as an SQL expression, for every query that ranks by
 * momentum (this file, src/papers/topic-search.ts).
 */
export function trendingScoreSql(asOf: Date | RawBuilder<unknown>) {
  // A featured day starts at 00:00 UTC: that is all the precision featured_on has.
  const hoursSinceFeatured = sql<number>`greatest(extract(epoch from (${asOf}::timestamptz - (papers.featured_on::timestamp at time zone 'UTC')))::float8 / 3600.0, 0)`;
  return sql<number>`(papers.upvotes + ${TRENDING_COMMENT_WEIGHT}::float8 * papers.comments) / power(${hoursSinceFeatured} + ${TRENDING_AGE_OFFSET_HOURS}::float8, ${TRENDING_GRAVITY}::float8)`;
}

/**
 * Upvotes gained in the day before asOf, over the lateral snapshots `latest`, `day_ago` and
 * `earliest` (snapshotUpvotes). Baseline: the last snapshot at least a day old; a paper watched
 * for less than a day is measured from its first snapshot instead, so fresh papers are not all
 * tied at 0.
 */
const upvoteGrowthSql = sql<number>`coalesce(latest.upvotes - coalesce(day_ago.upvotes, earliest.upvotes), 0)`;

/**
 * One snapshot's upvotes per paper: the newest (or oldest) captured in (after, until].
 * Each is an index-only probe into paper_stats_pkey (arxiv_id, captured_at).
 */
const snapshotUpvotes =
  <A extends string>(alias: A, window: { after?: Date; until: Date }, pick: 'newest' | 'oldest') =>
  (eb: ExpressionBuilder<DB, 'papers'>) => {
    let snapshot = eb
      .selectFrom('paper_stats')
      .select('paper_stats.upvotes')
      .whereRef('paper_stats.arxiv_id', '=', 'papers.arxiv_id')
      .where('paper_stats.captured_at', '<=', window.until);
    if (window.after) snapshot = snapshot.where('paper_stats.captured_at', '>', window.after);
    return snapshot
      .orderBy('paper_stats.captured_at', pick === 'newest' ? 'desc' : 'asc')
      .limit(1)
      .as(alias);
  };

/**
 * Papers featured in the `days` UTC days up to asOf, not withdrawn, ranked by
 *   score = (upvotes + 0.5 × comments) / (hours since featured + 2)^1.8
 * with ties broken by 24-hour upvote growth, then upvotes, then id. One SQL statement: the window
 * is a range scan on papers_trending_window_idx and each growth lookup is an index-only probe
 * into paper_stats' primary key (arxiv_id, captured_at) INCLUDE (upvotes, comments).
 */
export async function findTrendingPapers(db: Executor, options: TrendingOptions): Promise<TrendingPaper[]> {
  const rows = await trendingPapersQuery(db, options).execute();
  return rows.map(({ score, upvote_growth_24h, ...paper }) => ({ ...paper, score: Number(score), upvoteGrowth24h: Number(upvote_growth_24h) }));
}

/** The statement behind findTrendingPapers, unexecuted (for EXPLAIN in tests and diagnostics). */
export function trendingPapersQuery(db: Executor, options: TrendingOptions) {
  const { asOf, limit } = options;
  const days = options.days ?? 7;
  if (Number.isNaN(asOf.getTime())) throw new RangeError('asOf is not a valid date');
  if (!Number.isInteger(days) || days < 1) throw new RangeError('days must be a positive integer');
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError('limit must be a positive integer');
  const lastDay = utcDayOf(asOf);
  const firstDay = addDays(lastDay, -(days - 1));
  const dayBefore = new Date(asOf.getTime() - DAY_MS);
  const excludeIds = [...(options.excludeIds ?? [])];

  const score = trendingScoreSql(asOf);
  let query = db
    .selectFrom('papers')
    .leftJoinLateral(snapshotUpvotes('latest', { until: asOf }, 'newest'), (join) => join.onTrue())
    .leftJoinLateral(snapshotUpvotes('day_ago', { until: dayBefore }, 'newest'), (join) => join.onTrue())
    .leftJoinLateral(snapshotUpvotes('earliest', { after: dayBefore, until: asOf }, 'oldest'), (join) => join.onTrue())
    .select(paperColumns.map((c) => `papers.${c}` as const))
    .select([score.as('score'), upvoteGrowthSql.as('upvote_growth_24h')])
    .where('papers.featured_on', '>=', firstDay)
    .where('papers.featured_on', '<=', lastDay)
    .where('papers.withdrawn_at', 'is', null);
  if (excludeIds.length > 0) {
    // One array parameter, however many ids: an IN list would grow the statement per id.
    query = query.where(sql<boolean>`not (papers.arxiv_id = any(${excludeIds}::text[]))`);
  }
  return query
    .orderBy('score', 'desc')
    .orderBy('upvote_growth_24h', 'desc')
    .orderBy('papers.upvotes', 'desc')
    .orderBy('papers.arxiv_id', 'asc')
    .limit(limit);
}

/**
 * The Daily Papers days a digest for `day` covers: the day itself and, on a Monday, also the
 * Saturday and Sunday before it. Daily Papers is thin at weekends, so Monday's digest gathers the
 * weekend's papers (nothing filters out papers a reader already got: see docs/trending.md).
 */
export function digestFeaturedDays(day: string): string[] {
  const isMonday = weekdayOf(parseIsoDay(day)) === 1;
  return isMonday ? [addDays(day, -2), addDays(day, -1), day] : [day];
}

/** "Top of the day" for a digest: by upvotes, then comments, then id, across digestFeaturedDays(day). */
export async function findTopPapersForDigestDay(db: Executor, day: string, limit: number): Promise<Paper[]> {
  return findTopPapersForDays(db, digestFeaturedDays(day), limit);
}

/** What a digest card shows beyond the paper itself (issue 10, item 8). */
export interface CardSignals {
  /** Upvotes gained over the 24 hours before asOf, as findTrendingPapers measures it. */
  upvoteGrowth24h: number;
  /** The Hugging Face AI summary, when Daily Papers provided one. */
  aiSummary: string | null;
}

/**
 * Momentum and the AI summary of the papers `ids` as of `asOf`, in one statement for the whole
 * edition (the same index-only snapshot probes as findTrendingPapers). Papers without snapshots
 * get a growth of 0.
 */
export async function findCardSignals(db: Executor, ids: readonly string[], asOf: Date): Promise<Map<string, CardSignals>> {
  if (ids.length === 0) return new Map();
  if (Number.isNaN(asOf.getTime())) throw new RangeError('asOf is not a valid date');
  const dayBefore = new Date(asOf.getTime() - DAY_MS);
  const rows = await db
    .selectFrom('papers')
    .leftJoinLateral(snapshotUpvotes('latest', { until: asOf }, 'newest'), (join) => join.onTrue())
    .leftJoinLateral(snapshotUpvotes('day_ago', { until: dayBefore }, 'newest'), (join) => join.onTrue())
    .leftJoinLateral(snapshotUpvotes('earliest', { after: dayBefore, until: asOf }, 'oldest'), (join) => join.onTrue())
    .select(['papers.arxiv_id', 'papers.ai_summary', upvoteGrowthSql.as('upvote_growth_24h')])
    .where(sql<boolean>`papers.arxiv_id = any(${[...ids]}::text[])`)
    .execute();
  return new Map(rows.map((r) => [r.arxiv_id, { upvoteGrowth24h: Number(r.upvote_growth_24h), aiSummary: r.ai_summary }]));
}
