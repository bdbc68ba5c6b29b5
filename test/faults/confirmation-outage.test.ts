import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../helpers/service.ts';
import { waitFor } from '../helpers/wait-for.ts';

const RETRY_DELAY_MS = 100;

/**
 * The same class as issue 8 item 15, for confirmation mail: a relay that answers 4xx for a while
 * must delay a person's confirmation, not drop it. Its retries follow the delivery backoff and
 * span the retry window (BullMQ's default of five tries two seconds apart gave up within a minute).
 */
describe('confirmation mail through a relay outage', () => {
  let t: TestService;
  beforeAll(async () => {
    // A 3-second window with 100 ms doubling to 400 ms: ten tries, where SEND_MAX_ATTEMPTS says two.
    t = await startTestService({
      SEND_RETRY_DELAY_MS: String(RETRY_DELAY_MS),
      SEND_RETRY_MAX_DELAY_MS: '400',
      SEND_RETRY_WINDOW_MINUTES: '0.05',
      SEND_MAX_ATTEMPTS: '2',
    });
  });
  afterAll(async () => t?.stop());

  it('retries a 4xx with backoff until the relay takes it, and mails the confirmation once', async () => {
    const address = 'patient@example.org';
    const tries: number[] = [];
    t.sink.onRcpt = (to) => {
      if (to !== address) return undefined;
      tries.push(Date.now());
      return tries.length <= 7 ? { code: 451, message: '4.3.0 Try again later' } : undefined;
    };
    const res = await fetch(`${t.baseUrl}/subscribe`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: address }) });
    expect(res.status).toBeLessThan(300);
    await waitFor(() => t.sink.to(address).length > 0, { what: 'the confirmation delivered', timeoutMs: 60_000 });
    expect(t.sink.rcptAttempts.get(address)).toBe(8);
    expect(t.sink.to(address)).toHaveLength(1);
    expect(t.sink.to(address)[0]!.parsed.text).toMatch(/\/confirm\/[A-Za-z0-9_-]+/);
    const gaps = tries.slice(1).map((at, i) => at - tries[i]!);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(RETRY_DELAY_MS);
    // One live token: the failed tries left none behind.
    const tokens = await t.service.db.selectFrom('confirmation_tokens').select('id').execute();
    expect(tokens).toHaveLength(1);
  }, 90_000);
});
