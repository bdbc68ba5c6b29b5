import { createHash } from 'node:crypto';
import { MOMENTUM_SCALE } from '../papers/topic-search.ts';
import type { ForYouPaper } from './variant.table.ts';

/**
 * What one reader's digest shows, from the edition's ranked pools, their topics' matches and the
 * papers they already received (issue #10). Pure: the planner calls it once per distinct
 * (preferences, already-received) group, never per reader, and equal selections share one
 * rendered variant.
 */

/** "For you" papers in a digest that also has the general sections. */
export const FOR_YOU_SIZE = 5;
/** "Trending this week" papers (the edition's own size, edition.service.ts). */
export const TRENDING_SIZE = 5;

/** The edition's candidates, best first: more than any reader is shown, so repeats can be skipped. */
export interface SelectionPools {
  top: readonly string[];
  /** Empty for a weekly edition (its top list is already the week's best). */
  trending: readonly string[];
}

/** One topic matching one paper of the period (src/papers/topic-search.ts). */
export interface TopicMatchRow {
  arxivId: string;
  topic: string;
  /** topicRelevanceSql (src/papers/topic-search.ts): 0 < relevance < 1. */
  relevance: number;
  trendingScore: number;
}

/**
 * Relevance times momentum, as the topic feeds rank (src/papers/topic-search.ts): a paper about
 * the topic stays above one merely mentioning it; among similar matches the one the community
 * is upvoting now comes first.
 */
export function combinedRank(relevance: number, trendingScore: number): number {
  return relevance * (1 + Math.log1p(MOMENTUM_SCALE * Math.max(0, trendingScore)));
}

export interface RankedMatch extends ForYouPaper {
  rank: number;
}

/**
 * The "For you" candidates of a topic set, best first: each paper once, labelled with the topic
 * that ranks it highest (ties: the topic the reader listed first). Ties between papers: by id.
 */
export function rankForYou(topics: readonly string[], matchesByTopic: ReadonlyMap<string, readonly TopicMatchRow[]>): RankedMatch[] {
  const best = new Map<string, RankedMatch>();
  for (const topic of topics) {
    for (const match of matchesByTopic.get(topic) ?? []) {
      const rank = combinedRank(match.relevance, match.trendingScore);
      const seen = best.get(match.arxivId);
      if (!seen || rank > seen.rank) best.set(match.arxivId, { arxivId: match.arxivId, topic, rank });
    }
  }
  return [...best.values()].sort((a, b) => b.rank - a.rank || (a.arxivId < b.arxivId ? -1 : a.arxivId > b.arxivId ? 1 : 0));
}

export interface ReaderProfile {
  onlyMyTopics: boolean;
  papersPerDigest: number;
}

export interface Selection {
  top: string[];
  trending: string[];
  forYou: ForYouPaper[];
}

/**
 * The reader's selection. Their topics' best matches of the period they have not received come
 * first (up to FOR_YOU_SIZE, or N and nothing else for an "only my topics" reader), so a topic
 * paper that is also among the day's top papers is shown under "For you" with its reason; then
 * the top N of the edition and the trending papers, leaving out what they already received and
 * what is shown above. Nothing in it: nothing is sent.
 */
export function selectFor(pools: SelectionPools, forYou: readonly RankedMatch[], profile: ReaderProfile, received: ReadonlySet<string>): Selection {
  const shown = new Set<string>();
  const take = (ids: readonly string[], count: number) => {
    const out: string[] = [];
    for (const id of ids) {
      if (out.length >= count) break;
      if (received.has(id) || shown.has(id)) continue;
      shown.add(id);
      out.push(id);
    }
    return out;
  };
  const general = !profile.onlyMyTopics;
  const forYouIds = new Set(take(forYou.map((m) => m.arxivId), general ? FOR_YOU_SIZE : profile.papersPerDigest));
  const top = general ? take(pools.top, profile.papersPerDigest) : [];
  const trending = general ? take(pools.trending, TRENDING_SIZE) : [];
  return { top, trending, forYou: forYou.filter((m) => forYouIds.has(m.arxivId)).map(({ arxivId, topic }) => ({ arxivId, topic })) };
}

export function selectionPaperIds(selection: Selection): string[] {
  return [...selection.top, ...selection.forYou.map((p) => p.arxivId), ...selection.trending];
}

export function isEmptySelection(selection: Selection): boolean {
  return selectionPaperIds(selection).length === 0;
}

/** Equal selections (same papers, sections, order and labels) have equal keys. */
export function selectionKey(selection: Selection): string {
  return createHash('sha256').update(JSON.stringify([selection.top, selection.trending, selection.forYou.map((p) => [p.arxivId, p.topic])])).digest('base64url');
}
