import { describe, expect, it } from 'vitest';
import { benchReaders, TIME_ZONES, topicSets } from '../../bench/topic-sets.ts';
import { parseTopics } from '../../src/subscribers/topics.ts';

describe('the personal bench readers (bench/topic-sets.ts)', () => {
  it('draws 2,000 distinct, valid topic sets, the same for the same seed', () => {
    const sets = topicSets(2000);
    expect(sets).toHaveLength(2000);
    expect(new Set(sets.map((s) => s.join('\n'))).size).toBe(2000);
    for (const set of sets) expect(parseTopics(set)).toEqual({ ok: true, topics: expect.arrayContaining(set) });
    expect(topicSets(2000)).toEqual(sets);
    expect(topicSets(2000, 7)).not.toEqual(sets);
  });

  it('gives the popular sets to many readers and the tail to few (Zipf), 30% weekly, every zone', () => {
    const readers = benchReaders(20_000);
    const bySet = new Map<string, number>();
    for (const r of readers) bySet.set(r.topics.join('\n'), (bySet.get(r.topics.join('\n')) ?? 0) + 1);
    const counts = [...bySet.values()].sort((a, b) => b - a);
    // Zipf with s = 1 over 2,000 ranks: the top set takes 1/H(2000) ≈ 12% of readers.
    expect(counts[0]! / readers.length).toBeGreaterThan(0.09);
    expect(counts[0]! / readers.length).toBeLessThan(0.15);
    expect(counts[0]!).toBeGreaterThan(counts[9]! * 5);
    // Most of the tail is drawn at all, rarely.
    expect(bySet.size).toBeGreaterThan(1000);
    expect(counts.filter((c) => c <= 2).length).toBeGreaterThan(500);
    const weekly = readers.filter((r) => r.frequency === 'weekly').length / readers.length;
    expect(weekly).toBeGreaterThan(0.28);
    expect(weekly).toBeLessThan(0.32);
    expect(new Set(readers.map((r) => r.time_zone))).toEqual(new Set(TIME_ZONES));
  });
});
