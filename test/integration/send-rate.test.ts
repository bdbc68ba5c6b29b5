import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createSendRateLimiter } from '../../src/delivery/send-rate.ts';
import { createRedis } from '../../src/queue/queues.ts';
import { testRedisUrl } from '../helpers/service.ts';

describe('the shared send rate', () => {
  const key = `pbrate-${randomBytes(6).toString('hex')}:send-rate`;
  const connections = [createRedis({ url: testRedisUrl, role: 'worker' }), createRedis({ url: testRedisUrl, role: 'worker' }), createRedis({ url: testRedisUrl, role: 'worker' })];
  afterAll(async () => {
    await connections[0]!.del(key);
    await Promise.all(connections.map((c) => c.quit()));
  });

  it('holds three "workers" together to SEND_RATE messages per second', async () => {
    const perSecond = 200;
    const limiters = connections.map((redis) => createSendRateLimiter(redis, { key, perSecond }));
    const durationMs = 1_500;
    const started = Date.now();
    let taken = 0;
    await Promise.all(
      limiters.flatMap((limiter) =>
        [0, 1].map(async () => {
          while (Date.now() - started < durationMs) {
            const granted = await limiter.take(limiter.maxChunk);
            taken += granted;
          }
        }),
      ),
    );
    const seconds = (Date.now() - started) / 1000;
    // The bucket starts full (a tenth of a second's worth), then refills at the rate.
    expect(taken).toBeLessThanOrEqual(perSecond * seconds + perSecond / 10 + 6 * limiters[0]!.maxChunk);
    expect(taken).toBeGreaterThanOrEqual(perSecond * (durationMs / 1000) * 0.8);
  });

  it('takes back tokens given back (rows that did not go), up to the burst', async () => {
    const other = `${key}-give-back`;
    // 2/s: a token takes half a second to refill, far more than the calls below.
    const limiter = createSendRateLimiter(connections[0]!, { key: other, perSecond: 2 });
    const tokens = async () => Number((await connections[0]!.hmget(other, 'tokens'))[0]);
    expect(await limiter.take(1)).toBe(1);
    expect(await tokens()).toBeLessThan(0.5);
    await limiter.giveBack(1);
    expect(await tokens()).toBeGreaterThanOrEqual(1);
    // Giving back more than was taken never exceeds the burst (one token at 2/s).
    await limiter.giveBack(50);
    expect(await tokens()).toBeLessThanOrEqual(1);
    await connections[0]!.del(other);
  });
});
