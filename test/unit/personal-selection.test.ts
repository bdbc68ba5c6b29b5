import { describe, expect, it } from 'vitest';
import { combinedRank, FOR_YOU_SIZE, rankForYou, selectFor, selectionKey, type TopicMatchRow } from '../../src/editions/personal-selection.ts';

const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(2, '0')}`);
const pools = { top: ids('t', 40), trending: ids('r', 20) };
const match = (arxivId: string, topic: string, relevance: number, trendingScore = 0): TopicMatchRow => ({ arxivId, topic, relevance, trendingScore });

describe('ranking combination (relevance × momentum)', () => {
  it('keeps a paper about the topic above one merely mentioning it, and lets momentum order similar matches', () => {
    // Title match (high relevance) without momentum beats an abstract mention with some momentum.
    expect(combinedRank(0.6, 0)).toBeGreaterThan(combinedRank(0.1, 0.05));
    // Equal relevance: the one being upvoted now comes first.
    expect(combinedRank(0.3, 0.02)).toBeGreaterThan(combinedRank(0.3, 0.001));
    expect(combinedRank(0.3, 0)).toBe(0.3);
    expect(combinedRank(0, 10)).toBe(0);
  });

  it('labels each paper with the topic that ranks it highest, each paper once, best first', () => {
    const matches = new Map([
      ['diffusion', [match('a', 'diffusion', 0.2), match('b', 'diffusion', 0.5)]],
      ['robot learning', [match('a', 'robot learning', 0.4), match('c', 'robot learning', 0.1, 0.05)]],
    ]);
    const ranked = rankForYou(['diffusion', 'robot learning'], matches);
    expect(ranked.map((r) => [r.arxivId, r.topic])).toEqual([
      ['b', 'diffusion'],
      ['a', 'robot learning'],
      ['c', 'robot learning'],
    ]);
    // Only the reader's own topics count.
    expect(rankForYou(['diffusion'], matches).map((r) => r.arxivId)).toEqual(['b', 'a']);
  });
});

describe('selectFor', () => {
  const forYou = rankForYou(['x'], new Map([['x', [match('t03', 'x', 0.9), match('q1', 'x', 0.5), match('q2', 'x', 0.4)]]]));

  it('puts topic matches under "For you" first, then the top N and trending without repeating them', () => {
    const s = selectFor(pools, forYou, { onlyMyTopics: false, papersPerDigest: 10 }, new Set());
    expect(s.forYou).toEqual([
      { arxivId: 't03', topic: 'x' },
      { arxivId: 'q1', topic: 'x' },
      { arxivId: 'q2', topic: 'x' },
    ]);
    expect(s.top).toHaveLength(10);
    expect(s.top).not.toContain('t03');
    expect(s.trending).toEqual(ids('r', 5));
  });

  it('never selects a paper the reader already received; the next candidates fill in', () => {
    const received = new Set(['t00', 't01', 'r00', 'q1']);
    const s = selectFor(pools, forYou, { onlyMyTopics: false, papersPerDigest: 5 }, received);
    const all = [...s.top, ...s.trending, ...s.forYou.map((p) => p.arxivId)];
    expect(all.filter((id) => received.has(id))).toEqual([]);
    expect(new Set(all).size).toBe(all.length);
    expect(s.top).toEqual(['t02', 't04', 't05', 't06', 't07']);
    expect(s.trending).toEqual(['r01', 'r02', 'r03', 'r04', 'r05']);
  });

  it('gives an "only my topics" reader only their matches, up to N, and nothing when nothing matches', () => {
    const many = rankForYou(['x'], new Map([['x', ids('m', 20).map((id, i) => match(id, 'x', 1 - i / 100))]]));
    const s = selectFor(pools, many, { onlyMyTopics: true, papersPerDigest: 7 }, new Set());
    expect(s.top).toEqual([]);
    expect(s.trending).toEqual([]);
    expect(s.forYou).toHaveLength(7);
    const none = selectFor(pools, [], { onlyMyTopics: true, papersPerDigest: 7 }, new Set());
    expect([...none.top, ...none.trending, ...none.forYou]).toEqual([]);
    // A general reader gets at most FOR_YOU_SIZE matches.
    expect(selectFor(pools, many, { onlyMyTopics: false, papersPerDigest: 3 }, new Set()).forYou).toHaveLength(FOR_YOU_SIZE);
  });

  it('gives equal selections equal keys, and different labels different keys', () => {
    const a = selectFor(pools, forYou, { onlyMyTopics: false, papersPerDigest: 10 }, new Set());
    const b = selectFor(pools, forYou, { onlyMyTopics: false, papersPerDigest: 10 }, new Set(['unrelated']));
    expect(selectionKey(a)).toBe(selectionKey(b));
    const relabelled = { ...a, forYou: a.forYou.map((p) => ({ ...p, topic: 'y' })) };
    expect(selectionKey(relabelled)).not.toBe(selectionKey(a));
  });
});
