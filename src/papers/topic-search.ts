import { sql, type RawBuilder } from 'kysely';
import { preparedStatement, type Executor } from '../db/database.ts';
import { paperColumns } from './paper.repository.ts';
import type { Paper } from './paper.table.ts';
import { trendingScoreSql } from './trending.ts';

/**
 * Matching papers to a reader's topic: PostgreSQL full-text search, the topic parsed by
 * websearch_to_tsquery (quoted phrases, `or`, `-exclusion`, as web search users expect, and it
 * never raises a syntax error). A paper matches when its title, Daily Papers keywords or abstract
 * do (`papers.search`, migrations/2026-11-30T0500_web_archive.ts); it is ranked by relevance on
 * its title and keywords (`papers.rank_search`, migrations/2026-11-30T1100_topic_rank_vector.ts)
 * combined with momentum. The topic feeds, the topic preview and the personal "for you" section
 * (src/editions/variant.service.ts) all match and rank through topicMatchSql/topicRelevanceSql.
 */

/** Longer than any topic a person types; the limit keeps hostile input away from the planner. */
export const MAX_TOPIC_LENGTH = 200;
/** Featured days searched, ending with the newest featured day in the table. */
export const TOPIC_WINDOW_DAYS = 30;
/** ts_rank_cd weights in {D, C, B, A} order: title 1.0 > keywords 0.4 (rank_search has no C or D). */
const RANK_WEIGHTS = '{0.1, 0.2, 0.4, 1.0}';
/**
 * Relevance of a paper whose title and keywords alone do not match the topic: it matches only
 * through its abstract. Below what ts_rank_cd gives a title or keyword match of a short topic
 * (one title word 0.5, one keyword 0.29, two words split between a long title and a keyword about
 * 0.02), so a paper about the topic stays above one merely mentioning it, and such papers are
 * ordered among themselves by momentum. Ranking on the abstract too would read each match's
 * ~2.4 kB `search` vector: the cost of the topic feed (BENCHMARKS.md, web).
 */
export const ABSTRACT_ONLY_RELEVANCE = 0.01;

/** Whether the row `papers` matches the tsquery `query` (GIN index papers_day_search_idx). */
export function topicMatchSql(query: RawBuilder<unknown>) {
  return sql<boolean>`papers.search @@ ${query}`;
}

/**
 * Whether the row `papers` was featured on one of `days` (a date[]). Written as an array overlap
 * rather than a range or `= any` so that, with topicMatchSql, one scan of the GIN index on
 * (array[featured_on], search) answers both (migrations/2026-11-30T1130_topic_day_search_index.ts):
 * a btree range on featured_on would be intersected with the tsquery's matches over the whole
 * table instead.
 */
export function featuredOnSql(days: RawBuilder<unknown>) {
  return sql<boolean>`array[papers.featured_on] && ${days}`;
}

/**
 * The relevance of the row `papers` to the tsquery `query` it matches, 0 < relevance < 1:
 * ts_rank_cd over title and keywords, normalised rank/(rank+1), or ABSTRACT_ONLY_RELEVANCE.
 */
export function topicRelevanceSql(query: RawBuilder<unknown>) {
  return sql<number>`case when papers.rank_search @@ ${query}
    then ts_rank_cd(${RANK_WEIGHTS}::float4[], papers.rank_search, ${query}, 32)
    else ${ABSTRACT_ONLY_RELEVANCE}::float4 end`;
}

/**
 * Momentum multiplies relevance by 1 + ln(1 + MOMENTUM_SCALE × trending score): a paper about
 * the topic stays above one merely mentioning it, and among similar matches the one the community
 * is upvoting now comes first. Trending scores of papers a few days old are around 0.001–0.1,
 * hence the scale (a fresh paper with ~50 upvotes gets about ×3, a month-old one about ×1.1).
 */
export const MOMENTUM_SCALE = 100;

export type TopicCheck = { ok: true; topic: string } | { ok: false; message: string };

/**
 * The canonical form of a topic (NFC, whitespace collapsed, lower case: websearch_to_tsquery
 * reads `or` in any case, and the english configuration folds case anyway), or why it is refused.
 * Control characters other than tab and line breaks are refused: PostgreSQL rejects NUL in text,
 * and none belongs in a topic.
 */
export function normaliseTopic(raw: string): TopicCheck {
  if (raw.length > MAX_TOPIC_LENGTH * 4) return { ok: false, message: `topic: at most ${MAX_TOPIC_LENGTH} characters` };
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/.test(raw)) return { ok: false, message: 'topic: control characters are not allowed' };
  const topic = raw.normalize('NFC').replace(/\s+/gu, ' ').trim().toLowerCase();
  if (topic.length === 0) return { ok: false, message: 'topic: give at least one word' };
  if ([...topic].length > MAX_TOPIC_LENGTH) return { ok: false, message: `topic: at most ${MAX_TOPIC_LENGTH} characters` };
  return { ok: true, topic };
}

export interface TopicMatch extends Paper {
  /** topicRelevanceSql: 0 < relevance < 1. */
  relevance: number;
  trendingScore: number;
  /** relevance × momentum factor; the order of the results. */
  rank: number;
}

export interface TopicSearchOptions {
  /** A topic as normaliseTopic returns it. */
  topic: string;
  limit: number;
  days?: number;
  /** Last featured day of the window (default: the newest featured day of a live paper). */
  lastDay?: string;
}

/**
 * Papers matching `topic` featured in the window, best first. A topic with nothing to search for
 * (only operators or stop words) matches nothing. One statement: one scan of the GIN index on the
 * window's days and `search` narrows the rows before any ranking.
 */
export async function findPapersForTopic(db: Executor, options: TopicSearchOptions): Promise<TopicMatch[]> {
  const rows = await topicSearchQuery(db, options).execute();
  return rows.map(({ relevance, trending_score, rank, ...paper }) => ({
    ...paper,
    relevance: Number(relevance),
    trendingScore: Number(trending_score),
    rank: Number(rank),
  }));
}

/** What a topic feed's entry of a paper is rendered from changes only with these (src/http/feeds.ts). */
export type TopicEntryKey = Pick<Paper, 'arxiv_id' | 'updated_at' | 'upvotes' | 'comments' | 'first_seen_at' | 'published_at'>;
const entryKeyColumns = ['arxiv_id', 'updated_at', 'upvotes', 'comments', 'first_seen_at', 'published_at'] as const;

/**
 * findPapersForTopic's papers, best first, with only the columns their feed entries are keyed by:
 * the rows ranked are read for these anyway, so no paper is fetched again and no abstract crosses
 * the wire. A feed reads the whole paper only for entries it has not rendered yet. The statement
 * is a prepared one: its text is the same for every topic (all values are parameters), and
 * planning it cost about as much as running it (BENCHMARKS.md, web).
 */
export async function findTopicEntryKeys(db: Executor, options: TopicSearchOptions): Promise<TopicEntryKey[]> {
  const compiled = bestTopicMatches(db, options, entryKeyColumns).compile();
  preparedStatement(compiled.sql);
  const { rows } = await db.executeQuery(compiled);
  return rows.map(({ arxiv_id, updated_at, upvotes, comments, first_seen_at, published_at }) => ({ arxiv_id, updated_at, upvotes, comments, first_seen_at, published_at }));
}

/** The statement behind findPapersForTopic, unexecuted (for EXPLAIN). */
export function topicSearchQuery(db: Executor, options: TopicSearchOptions) {
  // Only the best `limit` rows are joined back for their columns (the abstract is the widest), so
  // the sort carries narrow rows.
  const best = bestTopicMatches(db, options, ['arxiv_id']);
  return db
    .selectFrom(best.as('best'))
    .innerJoin('papers', 'papers.arxiv_id', 'best.arxiv_id')
    .select(paperColumns.map((c) => `papers.${c}` as const))
    .select(['best.relevance', 'best.trending_score', 'best.rank'])
    .orderBy('best.rank', 'desc')
    .orderBy('papers.arxiv_id', 'asc');
}

/** The best `limit` matches, best first, with their relevance, trending score, rank and the narrow `columns`. */
function bestTopicMatches<C extends readonly (typeof entryKeyColumns)[number][]>(db: Executor, options: TopicSearchOptions, columns: C) {
  const days = options.days ?? TOPIC_WINDOW_DAYS;
  if (!Number.isInteger(options.limit) || options.limit < 1) throw new RangeError('limit must be a positive integer');
  if (!Number.isInteger(days) || days < 1) throw new RangeError('days must be a positive integer');
  const lastDay = options.lastDay
    ? sql<string>`${options.lastDay}::date`
    : sql<string>`(select max(featured_on) from papers where withdrawn_at is null)`;
  // Momentum as of the end of the window's last day, so a feed read twice the same day ranks alike.
  const ranked = db
    .with('win', (qb) =>
      qb.selectNoFrom([
        sql<Date>`(${lastDay} + 1)::timestamp at time zone 'UTC'`.as('as_of'),
        // A subquery, so the tsquery is parsed once per execution (an InitPlan): in the prepared
        // statement's generic plan the topic is a parameter, and the bare call was evaluated again
        // for each matching row's relevance.
        sql<string>`(select websearch_to_tsquery('english', ${options.topic}))`.as('query'),
        sql<string[]>`array(select generate_series(${lastDay} - ${days - 1}::int, ${lastDay}, interval '1 day')::date)`.as('days'),
      ]),
    )
    .selectFrom(['papers', 'win'])
    .select(columns.map((c) => `papers.${c}` as const))
    .select([topicRelevanceSql(sql`win.query`).as('relevance'), sql<number>`${trendingScoreSql(sql`win.as_of`)}`.as('trending_score')])
    .where(topicMatchSql(sql`win.query`))
    .where(featuredOnSql(sql`win.days`))
    .where('papers.withdrawn_at', 'is', null);
  const rank = sql<number>`m.relevance * (1 + ln(1 + ${MOMENTUM_SCALE}::float8 * m.trending_score))`;
  return db
    .selectFrom(ranked.as('m'))
    .select(columns.map((c) => `m.${c}` as const))
    .select(['m.relevance', 'm.trending_score', rank.as('rank')])
    .orderBy('rank', 'desc')
    .orderBy('m.arxiv_id', 'asc')
    .limit(options.limit);
}
