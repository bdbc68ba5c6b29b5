import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { privateRedis, type PrivateRedis } from '../helpers/redis-server.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { waitFor } from '../helpers/wait-for.ts';

const METRICS_TOKEN = 'metrics-token-0123456789abcdef';

describe('/healthz and /readyz', () => {
  let redis: PrivateRedis;
  let t: TestService;
  beforeAll(async () => {
    redis = await privateRedis();
    t = await startTestService({ REDIS_URL: redis.url, METRICS_PORT: '0', METRICS_TOKEN });
  });
  afterAll(async () => {
    try {
      // Bring Redis back first so the workers drain and close instead of waiting for it.
      await redis?.start().catch(() => {});
      await t?.stop();
    } finally {
      await redis?.stop();
    }
  });

  const get = async (path: string, base = t.baseUrl) => {
    const res = await fetch(`${base}${path}`);
    return { status: res.status, body: (await res.json()) as { status: string; failing?: string[]; checks: Record<string, string>; message?: string } };
  };

  it('is ready when Postgres, Redis and the SMTP relay answer', async () => {
    expect(await get('/healthz')).toMatchObject({ status: 200, body: { status: 'ok', role: 'all' } });
    const ready = await get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.checks).toEqual({ postgres: 'ok', redis: 'ok', smtp: 'ok' });
  });

  it('answers 503 naming Redis while it is stopped, and recovers when it is back', async () => {
    await redis.stop();
    const down = await waitFor(async () => {
      const r = await get('/readyz');
      return r.status === 503 ? r : undefined;
    }, { what: '/readyz 503', timeoutMs: 15_000 });
    expect(down.body.failing).toEqual(['redis']);
    expect(down.body.checks.postgres).toBe('ok');
    expect(down.body.message).toContain('redis');
    // The process itself lives: a restart would not bring Redis back.
    expect((await get('/healthz')).status).toBe(200);

    await redis.start();
    const up = await waitFor(async () => {
      const r = await get('/readyz');
      return r.status === 200 ? r : undefined;
    }, { what: '/readyz 200 again', timeoutMs: 20_000 });
    expect(up.body.checks.redis).toBe('ok');
  });

  it('serves the probes and the token-protected metrics on METRICS_PORT, and no metrics on the public port', async () => {
    const ops = `http://127.0.0.1:${t.service.opsPort}`;
    expect((await get('/readyz', ops)).status).toBe(200);
    const anonymous = await fetch(`${ops}/metrics`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toContain('Bearer');
    expect((await fetch(`${ops}/metrics`, { headers: { authorization: 'Bearer wrong-token-0123456789abcdef' } })).status).toBe(401);
    const scraped = await fetch(`${ops}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(scraped.status).toBe(200);
    expect(scraped.headers.get('content-type')).toContain('text/plain');
    expect(await scraped.text()).toContain('paperboy_subscribers{status="active"} 0');
    expect((await fetch(`${t.baseUrl}/metrics`)).status).toBe(404);
    expect((await fetch(`${ops}/readyz`, { method: 'POST' })).status).toBe(405);
  });

  it('answers 503 naming the SMTP relay when it stops answering', async () => {
    await t.sink.close();
    const down = await waitFor(async () => {
      const r = await get('/readyz');
      return r.status === 503 ? r : undefined;
    }, { what: '/readyz 503 for SMTP', timeoutMs: 15_000 });
    expect(down.body.failing).toEqual(['smtp']);
    expect(down.body.checks.smtp).toMatch(/127\.0\.0\.1:\d+/);
  });
});
