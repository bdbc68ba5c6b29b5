import type { DeliverySettings, SendJobRetry } from './deps.ts';
import type { SmtpFailure } from './smtp-errors.ts';

/*
 * Retry timing of sending. A row that failed transiently goes back to `queued` with a `retry_at`
 * (claims skip it until then) and its send job comes back, delayed, when the earliest row of its
 * window is due (sender.ts). The backoff grows per row, so a relay outage of minutes costs time,
 * not recipients: a row gives up only when it has used its attempts AND has been failing for the
 * whole retry window (hours by default), as an MTA keeps a message queued (RFC 5321 §4.5.4.1).
 */

/** The jitter only adds (up to half the delay again): no two attempts of a row are closer than the configured delay. */
export const RETRY_JITTER = 0.5;

type BackoffSettings = Pick<DeliverySettings, 'retryDelayMs' | 'retryMaxDelayMs'>;

/**
 * Milliseconds to wait after a row's `retries`-th transient failure (1 for the first): the
 * configured delay doubled per failure, capped, plus jitter so that rows and workers that failed
 * together do not come back together.
 */
export function retryDelayMs(retries: number, settings: BackoffSettings, random: () => number = Math.random): number {
  const cap = Math.max(settings.retryMaxDelayMs, settings.retryDelayMs);
  const exponential = Math.min(cap, settings.retryDelayMs * 2 ** Math.min(40, Math.max(0, retries - 1)));
  return Math.round(exponential * (1 + RETRY_JITTER * random()));
}

/**
 * Whether a transient failure is the relay's rather than this recipient's: the connection could
 * not be opened or was refused before any envelope command (a 421 greeting, connection refused,
 * a timeout before MAIL FROM). Such a failure says nothing about the address, so it costs the
 * row no attempt, and its whole batch backs off instead of each row trying in turn.
 */
export function isRelayWide(failure: SmtpFailure): boolean {
  return failure.kind === 'transient' && failure.stage === 'connection';
}

/**
 * Whether a row that failed transiently gives up now: only once it has failed for the whole
 * retry window AND used its attempts (relay-wide failures count in `retries` instead, as they
 * cost no attempt). Either alone is not enough: attempts go fast when the relay is briefly
 * unwell, and a window alone would retry a hopeless address for hours at the capped delay.
 */
export function retriesExhausted(
  row: { attempts: number; retries: number; failingSince: Date | null },
  relayWide: boolean,
  settings: Pick<DeliverySettings, 'maxAttempts' | 'retryWindowMs'>,
  now = Date.now(),
): boolean {
  const tries = relayWide ? row.retries + 1 : row.attempts;
  const failingFor = row.failingSince ? now - row.failingSince.getTime() : 0;
  return tries >= settings.maxAttempts && failingFor >= settings.retryWindowMs;
}

/**
 * Tries for a job the queue retries with this backoff (confirmation mail) so that its retries
 * span the retry window, as a delivery's do: a relay outage of minutes must not drop a person's
 * confirmation either. At least SEND_MAX_ATTEMPTS.
 */
export function attemptsForRetryWindow(settings: Pick<DeliverySettings, 'maxAttempts' | 'retryDelayMs' | 'retryMaxDelayMs' | 'retryWindowMs'>): number {
  let attempts = 1;
  for (let waited = 0; waited < settings.retryWindowMs && attempts < 1000; attempts++) waited += retryDelayMs(attempts, settings, () => 0);
  return Math.max(settings.maxAttempts, attempts);
}

/** The BullMQ backoff type of jobs retried on retryDelayMs (set on every worker, src/main.ts). */
export const SMTP_BACKOFF = 'smtp';

/**
 * How the queue retries a send job that threw (a bug, a database gone for longer than the
 * connection-loss retry waits): SMTP failures never make a job throw, they defer rows instead.
 */
export function sendJobRetry(settings: Pick<DeliverySettings, 'maxAttempts' | 'retryDelayMs'>): SendJobRetry {
  return { attempts: settings.maxAttempts, backoffDelayMs: settings.retryDelayMs, jitter: RETRY_JITTER };
}
