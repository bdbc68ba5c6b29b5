import type { DeliverySettings, SendJobRetry } from './deps.ts';

/**
 * Retry timing of sending. A send job whose batch had transient failures (4xx, dropped
 * connections) throws, and the queue runs it again after an exponential backoff with 50% jitter
 * (so workers that failed together do not retry together), up to SEND_MAX_ATTEMPTS; each row
 * counts its own attempts and gives up after as many (failure-policy.ts).
 */
export function sendJobRetry(settings: Pick<DeliverySettings, 'maxAttempts' | 'retryDelayMs'>): SendJobRetry {
  return { attempts: settings.maxAttempts, backoffDelayMs: settings.retryDelayMs, jitter: 0.5 };
}

/** Whether a row that failed transiently has used up its attempts. */
export function attemptsExhausted(attempts: number, settings: Pick<DeliverySettings, 'maxAttempts'>): boolean {
  return attempts >= settings.maxAttempts;
}
