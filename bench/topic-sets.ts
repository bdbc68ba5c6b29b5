/**
 * Readers for the personal scenario of `npm run bench` (issue #10, "How it must perform"): distinct
 * topic sets drawn Zipf-like from words of the sample papers (data/sample/daily-papers.json titles),
 * so many readers share the popular topics and a long tail follows few readers each; a share of
 * weekly readers; time zones spread over the world. Seeded, so every run draws the same readers.
 */
import { parseTopics } from '../src/subscribers/topics.ts';

/** Topics as readers would type them, most frequent in the sample titles first (Zipf by rank). */
export const TOPIC_WORDS = [
  'diffusion', 'autoregressive', 'language models', 'image generation', 'video generation', 'reinforcement learning',
  'multimodal', 'decoding', 'masked', 'quantization', 'text-to-image', 'alignment', 'reward', 'contrastive',
  'discrete', 'tokens', 'distillation', 'attention', 'reasoning', 'flow matching', 'high-resolution',
  'sequence modeling', 'optimization', 'visual understanding', 'unified', 'consistency', 'trajectory',
  'exploration', 'graph', 'routing', 'imitation', 'pre-training', '"large language models"', 'speech', 'audio',
  'policy', 'adaptive', 'combinatorial', 'chinese', 'momentum', 'diffusion -survey', 'autoregressive -video',
] as const;

/** Zones across the world, both hemispheres' DST rules, and the 30- and 45-minute offsets. */
export const TIME_ZONES = [
  'Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Tokyo', 'UTC', 'Asia/Kolkata',
  'America/Los_Angeles', 'Europe/London', 'America/Sao_Paulo', 'Africa/Lagos', 'Asia/Kathmandu',
  'Pacific/Auckland', 'Asia/Shanghai', 'America/Chicago', 'Pacific/Honolulu', 'Asia/Dubai',
] as const;

/** A seeded generator (mulberry32): uniform in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Draws ranks 0 … n − 1 with probability ∝ 1 / (rank + 1)^s (Zipf), by binary search of the CDF. */
export function zipf(n: number, random: () => number, s = 1): () => number {
  const cdf = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) cdf[i] = total += 1 / (i + 1) ** s;
  return () => {
    const r = random() * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < r) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

/**
 * `count` distinct topic sets of one to four topics, words drawn Zipf-like, in the canonical form
 * the sign-up form stores (parseTopics). Sets are distinct as sets (order does not matter).
 */
export function topicSets(count: number, seed = 42): string[][] {
  const random = seededRandom(seed);
  const word = zipf(TOPIC_WORDS.length, random, 0.8);
  const seen = new Set<string>();
  const sets: string[][] = [];
  for (let attempts = 0; sets.length < count; attempts++) {
    if (attempts > count * 1000) throw new Error(`cannot draw ${count} distinct topic sets from ${TOPIC_WORDS.length} words`);
    const size = 1 + Math.floor(random() * Math.min(4, 1 + attempts / 200));
    const words = new Set<string>();
    while (words.size < size) words.add(TOPIC_WORDS[word()]!);
    const parsed = parseTopics([...words]);
    if (!parsed.ok) throw new Error(`bench topic refused: ${parsed.message}`);
    const topics = [...parsed.topics].sort();
    const key = topics.join('\n');
    if (seen.has(key)) continue;
    seen.add(key);
    sets.push(topics);
  }
  return sets;
}

export interface BenchReader {
  topics: string[];
  frequency: 'daily' | 'weekly';
  time_zone: string;
}

/**
 * `n` readers: each takes a topic set by Zipf rank (set 0 the most popular), `weeklyShare` of
 * them weekly, zones uniformly over TIME_ZONES.
 */
export function benchReaders(n: number, options: { sets?: number; weeklyShare?: number; seed?: number } = {}): BenchReader[] {
  const sets = topicSets(options.sets ?? 2000, options.seed ?? 42);
  const random = seededRandom((options.seed ?? 42) + 1);
  const rank = zipf(sets.length, random);
  const weeklyShare = options.weeklyShare ?? 0.3;
  return Array.from({ length: n }, () => ({
    topics: sets[rank()]!,
    frequency: random() < weeklyShare ? 'weekly' : 'daily',
    time_zone: TIME_ZONES[Math.floor(random() * TIME_ZONES.length)]!,
  }));
}
