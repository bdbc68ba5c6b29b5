import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createDomainPacer, domainGroup, isSlowDown, parseDomainRates } from '../../src/delivery/domain-pacing.ts';
import { classifySmtpError } from '../../src/delivery/smtp-errors.ts';
import { createRedis } from '../../src/queue/queues.ts';
import { testRedisUrl } from '../helpers/service.ts';

describe('pacing per receiving domain (issue #11 item 6)', () => {
  it('groups domains by provider, others by domain', () => {
    expect(domainGroup('a@gmail.com')).toBe('google');
    expect(domainGroup('a@GoogleMail.com')).toBe('google');
    expect(['outlook.com', 'hotmail.com', 'live.com'].map((d) => domainGroup(`x@${d}`))).toEqual(['microsoft', 'microsoft', 'microsoft']);
    expect(['yahoo.com', 'aol.com'].map((d) => domainGroup(`x@${d}`))).toEqual(['yahoo', 'yahoo']);
    expect(domainGroup('x@Slow.Example')).toBe('slow.example');
  });

  it('reads DOMAIN_RATES and names a bad part', () => {
    expect(parseDomainRates('google=20, microsoft=7.5,slow.example=1')).toEqual({ google: 20, microsoft: 7.5, 'slow.example': 1 });
    expect(parseDomainRates(undefined)).toEqual({});
    expect(() => parseDomainRates('google=fast')).toThrow(/"google=fast" is not group=messages-per-second/);
    expect(() => parseDomainRates('google=0')).toThrow(/google=0/);
  });

  it('takes 421 and 4.7.x inside the transaction as "slow down", not a relay greeting or other 4xx', () => {
    const reply = (response: string, command = 'RCPT TO') => classifySmtpError({ response, command });
    expect(isSlowDown(reply('421 4.7.0 Try again later, closing connection'))).toBe(true);
    expect(isSlowDown(reply('450 4.7.28 Our system has detected an unusual rate of unsolicited mail: rate limited'))).toBe(true);
    expect(isSlowDown(reply('451 4.3.0 Temporary local problem'))).toBe(false);
    expect(isSlowDown(reply('421 4.3.2 Service not available', 'CONN'))).toBe(false);
    expect(isSlowDown(reply('550 5.7.1 Rejected'))).toBe(false);
  });

  describe('shared state in Redis', () => {
    const prefix = `pbpace-${randomBytes(6).toString('hex')}`;
    const workers = [createRedis({ url: testRedisUrl, role: 'worker' }), createRedis({ url: testRedisUrl, role: 'worker' })];
    afterAll(async () => {
      const keys = await workers[0]!.keys(`${prefix}:*`);
      if (keys.length > 0) await workers[0]!.del(...keys);
      await Promise.all(workers.map((c) => c.quit()));
    });
    // slow.example at 4/s: after two slow-downs a token takes a second to refill, far more than
    // the few ms between the calls below even on a loaded machine.
    const settings = { rates: { 'slow.example': 4 }, defaultRate: 100, slowDownFactor: 0.5, recoveryMs: 600_000 };
    const [a, b] = workers.map((redis) => createDomainPacer(redis, { keyPrefix: prefix, settings }));
    const rows = (domain: string, n: number, from = 0) => Array.from({ length: n }, (_, i) => ({ id: from + i, email: `r${from + i}@${domain}` }));

    it('a slow-down seen by one worker halves that group for every worker, leaves other groups alone, and defers without blocking', async () => {
      expect(await a!.slowDown('x@slow.example')).toBeCloseTo(2, 2);
      expect(await b!.slowDown('y@slow.example')).toBeCloseTo(1, 2);
      expect(await b!.currentRate('slow.example')).toBeLessThan(1.01);
      expect(await a!.currentRate('fast.example')).toBe(100);
      // The slowed bucket was emptied: its rows are deferred, spread at its pace, while the other group's go now.
      const { now, later } = await b!.admit([...rows('slow.example', 5), ...rows('fast.example', 5, 100)]);
      expect(now.map((r) => r.email.split('@')[1])).toEqual(Array(5).fill('fast.example'));
      expect(later.map((x) => x.group)).toEqual(Array(5).fill('slow.example'));
      const delays = later.map((x) => x.delayMs);
      expect(delays).toEqual([...delays].sort((p, q) => p - q));
      expect(delays.at(-1)! - delays[0]!).toBeGreaterThanOrEqual(4 * (1000 / 1.01) - 1);
    });

    it('lines deferred rows up behind those already waiting, so each comes back in a slot of its own', async () => {
      // Still about 1/s after the slow-downs above: each row deferred earlier holds a second of the queue.
      const first = await a!.admit(rows('slow.example', 3, 200));
      const second = await b!.admit(rows('slow.example', 3, 300));
      expect(first.now).toEqual([]);
      expect(second.now).toEqual([]);
      // The second worker's rows wait behind the first's three (and the five of the test above), not beside them.
      expect(second.later[0]!.delayMs).toBeGreaterThanOrEqual(first.later.at(-1)!.delayMs + 500);
    });
  });
});
