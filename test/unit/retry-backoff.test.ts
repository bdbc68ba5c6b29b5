import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { attemptsForRetryWindow, isRelayWide, retriesExhausted, retryDelayMs } from '../../src/delivery/retry.ts';
import { classifySmtpError } from '../../src/delivery/smtp-errors.ts';
import { SmtpError } from '../../src/delivery/smtp-connection.ts';

const settings = { retryDelayMs: 30_000, retryMaxDelayMs: 900_000 };

describe('retry backoff schedule', () => {
  it('doubles from the configured delay per failure up to the cap, without jitter', () => {
    const schedule = [1, 2, 3, 4, 5, 6, 7, 8].map((n) => retryDelayMs(n, settings, () => 0));
    expect(schedule).toEqual([30_000, 60_000, 120_000, 240_000, 480_000, 900_000, 900_000, 900_000]);
    // A hundred failures do not overflow the cap.
    expect(retryDelayMs(100, settings, () => 0)).toBe(900_000);
  });

  it('only adds jitter, up to half again: no retry comes sooner than the configured delay', () => {
    for (const n of [1, 2, 5, 9]) {
      const base = retryDelayMs(n, settings, () => 0);
      expect(retryDelayMs(n, settings, () => 0.999_999)).toBe(Math.round(base * 1.5));
      for (let i = 0; i < 50; i++) {
        const delay = retryDelayMs(n, settings);
        expect(delay).toBeGreaterThanOrEqual(base);
        expect(delay).toBeLessThanOrEqual(base * 1.5);
      }
    }
  });

  it('never goes below the delay when the cap is configured lower than it', () => {
    expect(retryDelayMs(3, { retryDelayMs: 5_000, retryMaxDelayMs: 1_000 }, () => 0)).toBe(5_000);
  });

  it('reads its settings from the environment with hours of retry window by default', () => {
    const base = { NODE_ENV: 'test', DATABASE_URL: 'postgres://x@127.0.0.1/x', REDIS_URL: 'redis://127.0.0.1:6379' };
    expect(loadConfig(base).delivery).toMatchObject({ retryDelayMs: 30_000, retryMaxDelayMs: 900_000, retryWindowMs: 6 * 3_600_000 });
    expect(loadConfig({ ...base, SEND_RETRY_DELAY_MS: '200', SEND_RETRY_MAX_DELAY_MS: '5000', SEND_RETRY_WINDOW_MINUTES: '0.5' }).delivery).toMatchObject({
      retryDelayMs: 200,
      retryMaxDelayMs: 5_000,
      retryWindowMs: 30_000,
    });
  });
});

describe('tries of queued mail jobs (confirmations)', () => {
  it('are as many as span the retry window at the unjittered backoff, and never fewer than SEND_MAX_ATTEMPTS', () => {
    // 100 + 200 + 400 × 7 = 3,100 ms ≥ 3 s: the tenth try comes after the window is spent.
    expect(attemptsForRetryWindow({ maxAttempts: 2, retryDelayMs: 100, retryMaxDelayMs: 400, retryWindowMs: 3_000 })).toBe(10);
    // Defaults: 30 s doubling to 15 min; 28 waits span 6 h.
    expect(attemptsForRetryWindow({ maxAttempts: 5, retryDelayMs: 30_000, retryMaxDelayMs: 900_000, retryWindowMs: 6 * 3_600_000 })).toBe(29);
    expect(attemptsForRetryWindow({ maxAttempts: 5, retryDelayMs: 30_000, retryMaxDelayMs: 900_000, retryWindowMs: 0 })).toBe(5);
  });
});

describe('giving up on transient failures', () => {
  const limits = { maxAttempts: 5, retryWindowMs: 3_600_000 };
  const now = Date.parse('2026-01-01T12:00:00Z');
  const since = (ms: number) => new Date(now - ms);

  it('needs both the attempts and the retry window: a minutes-long outage never fails a row', () => {
    expect(retriesExhausted({ attempts: 5, retries: 4, failingSince: since(10 * 60_000) }, false, limits, now)).toBe(false);
    expect(retriesExhausted({ attempts: 20, retries: 19, failingSince: since(59 * 60_000) }, false, limits, now)).toBe(false);
    expect(retriesExhausted({ attempts: 2, retries: 1, failingSince: since(5 * 3_600_000) }, false, limits, now)).toBe(false);
    expect(retriesExhausted({ attempts: 5, retries: 4, failingSince: since(3_600_000) }, false, limits, now)).toBe(true);
    // A first failure has no history yet: it never gives up unless the window is zero.
    expect(retriesExhausted({ attempts: 5, retries: 0, failingSince: null }, false, limits, now)).toBe(false);
    expect(retriesExhausted({ attempts: 5, retries: 0, failingSince: null }, false, { ...limits, retryWindowMs: 0 }, now)).toBe(true);
  });

  it('counts relay-wide failures by retries, as they cost the row no attempt', () => {
    expect(retriesExhausted({ attempts: 0, retries: 4, failingSince: since(3_600_000) }, true, limits, now)).toBe(true);
    expect(retriesExhausted({ attempts: 0, retries: 3, failingSince: since(3_600_000) }, true, limits, now)).toBe(false);
  });
});

describe('relay-wide failures', () => {
  const error = (message: string, code: string, props: Partial<SmtpError> & { responseCode?: number; response?: string; command?: string } = {}) =>
    Object.assign(new SmtpError(message, code, props.responseCode, props.response, props.command), props);

  it('are the ones that happen before any envelope command: a 421 greeting, a refused or timed-out connection, EHLO', () => {
    expect(isRelayWide(classifySmtpError(error('CONN failed', 'EPROTOCOL', { responseCode: 421, response: '421 4.3.2 Service not available', command: 'CONN', connecting: true })))).toBe(true);
    expect(isRelayWide(classifySmtpError(error('connection to 127.0.0.1:1 failed: connect ECONNREFUSED', 'ECONNECTION', { connecting: true })))).toBe(true);
    expect(isRelayWide(classifySmtpError(error('opening the connection took longer than 10 ms', 'ETIMEDOUT', { connecting: true })))).toBe(true);
    // nodemailer's errors name the phase by command.
    expect(isRelayWide(classifySmtpError(Object.assign(new Error('Greeting never received'), { code: 'ETIMEDOUT', command: 'CONN' })))).toBe(true);
    expect(isRelayWide(classifySmtpError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:25'), { code: 'ECONNREFUSED' })))).toBe(true);
  });

  it('are not a refusal of this recipient or message, nor a permanent refusal of the connection', () => {
    expect(isRelayWide(classifySmtpError(error('RCPT TO failed', 'EENVELOPE', { responseCode: 452, response: '452 4.2.2 Over quota', command: 'RCPT TO' })))).toBe(false);
    expect(isRelayWide(classifySmtpError(error('RCPT TO failed', 'EENVELOPE', { responseCode: 421, response: '421 4.7.0 Try later', command: 'RCPT TO' })))).toBe(false);
    expect(isRelayWide(classifySmtpError(error('no complete reply to DATA', 'ETIMEDOUT', { command: 'DATA', maybeDelivered: true })))).toBe(false);
    expect(isRelayWide(classifySmtpError(error('CONN failed', 'EPROTOCOL', { responseCode: 554, response: '554 5.7.1 No', command: 'CONN', connecting: true })))).toBe(false);
  });
});
