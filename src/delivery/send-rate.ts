import type { RedisConnection as Redis } from '../redis-connection.ts';

/**
 * A token bucket in Redis shared by every worker process: SEND_RATE messages per second in total,
 * however many workers there are. Tokens are taken a chunk at a time, so the cost is one Redis
 * call per chunk, not per message. The clock is Redis's own (TIME), so workers' clocks don't matter.
 */
const TAKE = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then tokens = burst; ts = now end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
local granted = math.min(want, math.floor(tokens))
local wait = 0
if granted >= 1 then
  tokens = tokens - granted
else
  granted = 0
  wait = math.ceil((1 - tokens) * 1000 / rate)
end
-- %.17g: tostring() keeps 14 digits, which rounds the millisecond clock to 0.1 ms and, with
-- many callers, loses most of the refill time.
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'ts', string.format('%.17g', now))
redis.call('PEXPIRE', KEYS[1], 60000)
return {granted, wait}
`;

// Tokens taken for rows that then did not go (their provider's pace deferred them, domain-pacing.ts)
// go back, so a slowed provider does not spend the other providers' share. Capped at the burst:
// giving back never lets the pace exceed SEND_RATE.
const GIVE_BACK = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then return 0 end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000 + n)
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'ts', string.format('%.17g', now))
redis.call('PEXPIRE', KEYS[1], 60000)
return 1
`;

export interface SendRateLimiter {
  /** Resolves with between 1 and `want` tokens, waiting as long as the shared rate requires. */
  take(want: number): Promise<number>;
  /** Returns `n` tokens taken but not used (rows that did not go after all). */
  giveBack(n: number): Promise<void>;
  /** The most a single take can return: chunks larger than this would only wait longer. */
  readonly maxChunk: number;
}

type RedisWithTake = Redis & {
  paperboyTakeTokens(key: string, rate: number, burst: number, want: number): Promise<[number, number]>;
  paperboyGiveBackTokens(key: string, rate: number, burst: number, n: number): Promise<number>;
};

export function createSendRateLimiter(redis: Redis, options: { key: string; perSecond: number; signal?: AbortSignal }): SendRateLimiter {
  const r = redis as RedisWithTake;
  if (typeof r.paperboyTakeTokens !== 'function') redis.defineCommand('paperboyTakeTokens', { numberOfKeys: 1, lua: TAKE });
  if (typeof r.paperboyGiveBackTokens !== 'function') redis.defineCommand('paperboyGiveBackTokens', { numberOfKeys: 1, lua: GIVE_BACK });
  // A tenth of a second of sending at most, so the pace stays even instead of bursting.
  const burst = Math.max(1, Math.ceil(options.perSecond / 10));
  return {
    // Also bounds what a pause or a crash can leave in flight.
    maxChunk: Math.min(burst, 50),
    async take(want) {
      for (;;) {
        const [granted, waitMs] = await r.paperboyTakeTokens(options.key, options.perSecond, burst, Math.max(1, Math.min(want, burst)));
        if (granted > 0) return granted;
        if (options.signal?.aborted) throw new Error('send rate limiter stopped');
        await new Promise((resolve) => setTimeout(resolve, Math.max(1, Math.min(waitMs, 1000))));
      }
    },
    async giveBack(n) {
      if (n > 0) await r.paperboyGiveBackTokens(options.key, options.perSecond, burst, n);
    },
  };
}
