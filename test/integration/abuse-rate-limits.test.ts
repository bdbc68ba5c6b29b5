import { domainToASCII } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSubscriberToken } from '../../src/subscribers/tokens.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { waitFor } from '../helpers/wait-for.ts';

// Real Redis. Each service gets its own rate-limit namespace (test/helpers/service.ts), so these
// counters never meet those of other test files running in parallel.

const mailIdle = (t: TestService) =>
  waitFor(async () => {
    const c = await t.service.queues.byName.mail.getJobCounts('active', 'waiting', 'delayed', 'prioritized');
    return (c.active ?? 0) + (c.waiting ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0) === 0;
  }, { what: 'mail queue idle' });

const subscribeFrom = (t: TestService, ip: string, email: string) =>
  fetch(`${t.baseUrl}/subscribe`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': ip },
    body: JSON.stringify({ email }),
  });

describe('rate limits behind a trusted proxy (TRUST_PROXY=true)', () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService({
      TRUST_PROXY: 'true',
      RATE_LIMIT_SUBSCRIBE_IP: '5/1m,30/1d',
      RATE_LIMIT_SUBSCRIBE_ADDRESS: '3/1h',
      RATE_LIMIT_TOKEN_IP: '20/1m',
      RATE_LIMIT_ONE_CLICK_TOKEN: '10/1m',
      RATE_LIMIT_ONE_CLICK_IP: '3000/1m',
    });
  });
  afterAll(async () => t?.stop());

  it('answers the 6th sign-up from one IP in a minute with 429 and Retry-After, and mails nothing for it', async () => {
    const ip = '198.51.100.7';
    for (let i = 1; i <= 5; i++) expect((await subscribeFrom(t, ip, `ip-${i}@example.org`)).status).toBe(202);
    const limited = await subscribeFrom(t, ip, 'ip-6@example.org');
    expect(limited.status).toBe(429);
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(((await limited.json()) as { error: string }).error).toBe('rate_limited');
    // Another client is not affected.
    expect((await subscribeFrom(t, '198.51.100.8', 'other-ip@example.org')).status).toBe(202);
    await waitFor(() => t.sink.to('ip-5@example.org').length === 1, { what: '5th confirmation' });
    await mailIdle(t);
    expect(t.sink.to('ip-6@example.org')).toHaveLength(0);
    expect(await t.service.db.selectFrom('subscribers').select('id').where('email', '=', 'ip-6@example.org').executeTakeFirst()).toBeUndefined();
  });

  it('groups IPv6 clients by their /64 prefix', async () => {
    for (let i = 1; i <= 5; i++) expect((await subscribeFrom(t, `2001:db8:0:1::${i}`, `v6-${i}@example.org`)).status).toBe(202);
    expect((await subscribeFrom(t, '2001:db8:0:1:ffff:1:2:3', 'v6-6@example.org')).status).toBe(429);
    expect((await subscribeFrom(t, '2001:db8:0:2::1', 'v6-other@example.org')).status).toBe(202);
    // An IPv4-mapped IPv6 address counts as the IPv4 address.
    for (let i = 1; i <= 5; i++) expect((await subscribeFrom(t, '203.0.113.9', `mapped-${i}@example.org`)).status).toBe(202);
    expect((await subscribeFrom(t, '::ffff:203.0.113.9', 'mapped-6@example.org')).status).toBe(429);
  });

  // Per-address limits answer nothing over HTTP (an answer would tell that the address signed up
  // recently); test/integration/consent-and-identity.test.ts covers them where they act.

  it('lets 300 one-click unsubscribes with distinct tokens from one IP in a minute all through', async () => {
    const rows = await t.service.db
      .insertInto('subscribers')
      .values(Array.from({ length: 300 }, (_, i) => ({ email: `bulk-${i}@example.org`, status: 'active' as const })))
      .returning(['id', 'token_version'])
      .execute();
    const statuses: number[] = [];
    const started = Date.now();
    for (let i = 0; i < rows.length; i += 20) {
      const batch = rows.slice(i, i + 20).map((row) =>
        fetch(`${t.baseUrl}/u/${createSubscriberToken(t.config.secret, 'unsubscribe', row.id, row.token_version)}`, {
          method: 'POST',
          redirect: 'manual',
          headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': '209.85.220.41' },
          body: 'List-Unsubscribe=One-Click',
        }).then((r) => r.status),
      );
      statuses.push(...(await Promise.all(batch)));
    }
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(statuses.filter((s) => s < 200 || s > 299)).toEqual([]);
    const left = await t.service.db.selectFrom('subscribers').select('id').where('email', 'like', 'bulk-%').where('status', '=', 'active').execute();
    expect(left).toHaveLength(0);
  });

  it('limits repeated one-click posts of the same token, and token pages per IP', async () => {
    const [row] = await t.service.db.insertInto('subscribers').values({ email: 'same-token@example.org', status: 'active' }).returning(['id', 'token_version']).execute();
    const url = `${t.baseUrl}/u/${createSubscriberToken(t.config.secret, 'unsubscribe', row!.id, row!.token_version)}`;
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push((await fetch(url, { method: 'POST', headers: { 'x-forwarded-for': `10.9.${i}.1` } })).status);
    expect(statuses.slice(0, 10).every((s) => s === 200)).toBe(true);
    expect(statuses[10]).toBe(429);

    const pages: number[] = [];
    for (let i = 0; i < 21; i++) pages.push((await fetch(`${t.baseUrl}/confirm/${'x'.repeat(43)}`, { headers: { 'x-forwarded-for': '198.51.100.77' } })).status);
    expect(pages.slice(0, 20).every((s) => s === 404)).toBe(true);
    expect(pages[20]).toBe(429);
  });
});

describe('rate limits with one trusted proxy hop (TRUST_PROXY=1)', () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService({ TRUST_PROXY: '1', RATE_LIMIT_SUBSCRIBE_IP: '5/1m' });
  });
  afterAll(async () => t?.stop());

  it('keys on the address the proxy saw, not on X-Forwarded-For entries the client made up', async () => {
    // The proxy appends the real client (203.0.113.50); whatever the client put before it is ignored.
    const statuses: number[] = [];
    for (let i = 1; i <= 6; i++) statuses.push((await subscribeFrom(t, `1.1.1.${i}, 203.0.113.50`, `spoof-${i}@example.org`)).status);
    expect(statuses).toEqual([202, 202, 202, 202, 202, 429]);
  });

  it('without a header the socket address is the client', async () => {
    const res = await fetch(`${t.baseUrl}/subscribe`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'direct@example.org' }) });
    expect(res.status).toBe(202);
  });
});
