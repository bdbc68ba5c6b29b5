import { setTimeout as sleepFor } from 'node:timers/promises';

/**
 * The HTTP plumbing shared by the paper sources: one bounded, retrying GET. Sources are other
 * people's servers; a slow, huge or rate-limited answer must fail one run cleanly, never hang a
 * worker or exhaust its memory.
 */

export type PaperSourceErrorCode =
  /** The attempt did not finish (headers and body) within the timeout. */
  | 'TIMEOUT'
  /** Connection refused, reset, DNS failure… */
  | 'NETWORK'
  /** A status we do not accept (final 4xx, or 5xx/429 after the last retry). */
  | 'HTTP_STATUS'
  | 'BODY_TOO_LARGE'
  | 'INVALID_JSON'
  | 'NOT_AN_ARRAY'
  /** A body that is not the XML/Atom feed expected. */
  | 'INVALID_FEED'
  /** arXiv answered with its error feed (an entry whose id is …/api/errors#…). */
  | 'ARXIV_API_ERROR'
  /** The caller's signal aborted the run (e.g. worker shutdown). */
  | 'ABORTED';

export class PaperSourceError extends Error {
  readonly code: PaperSourceErrorCode;
  readonly url: string;
  readonly status: number | undefined;
  /** Requests made, retries included. */
  attempts: number;
  /** For BODY_TOO_LARGE: bytes received before the read was abandoned. */
  readonly bytesRead: number | undefined;
  /** Whether trying again later may help (the fetch loop already retried these). */
  readonly retryable: boolean;

  constructor(
    code: PaperSourceErrorCode,
    message: string,
    details: { url: string; status?: number; attempts?: number; bytesRead?: number; retryable?: boolean; cause?: unknown },
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'PaperSourceError';
    this.code = code;
    this.url = details.url;
    this.status = details.status;
    this.attempts = details.attempts ?? 1;
    this.bytesRead = details.bytesRead;
    this.retryable = details.retryable ?? false;
  }
}

/** What the sources log; a pino logger fits. */
export interface SourceLog {
  info(data: object, message: string): void;
  warn(data: object, message: string): void;
}

export interface RetryEvent {
  url: string;
  /** The attempt that failed, from 1. */
  attempt: number;
  waitMs: number;
  reason: string;
  status?: number;
}

export interface HttpPolicy {
  /** Per attempt, covering the headers and the whole body. */
  timeoutMs: number;
  maxBodyBytes: number;
  /** Attempts after the first one, for 5xx, 408, 429, timeouts and network errors. */
  retries: number;
  /** First backoff; doubles per attempt, with jitter, up to backoffMaxMs. */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** Cap on a wait that the server asks for (Retry-After, RateLimit). */
  maxRetryWaitMs: number;
}

export const defaultHttpPolicy: Readonly<HttpPolicy> = Object.freeze({
  timeoutMs: 15_000,
  maxBodyBytes: 5 * 1024 * 1024,
  retries: 4,
  backoffBaseMs: 1_000,
  backoffMaxMs: 30_000,
  maxRetryWaitMs: 120_000,
});

export interface HttpFetchOptions extends Partial<HttpPolicy> {
  headers?: Record<string, string>;
  /** Cancels the request and any wait between attempts. */
  signal?: AbortSignal;
  /** Replaceable so tests can observe the waits instead of spending them. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
  onRetry?: (event: RetryEvent) => void;
}

/** What a source client's options carry through to fetchWithRetry. */
export interface SourceHttpOptions extends Partial<HttpPolicy>, Pick<HttpFetchOptions, 'sleep' | 'random'> {}

/** Picks the HTTP settings out of a source client's options (which also hold base URL, log, …). */
export function sourceHttpOptions(options: SourceHttpOptions): SourceHttpOptions {
  const { timeoutMs, maxBodyBytes, retries, backoffBaseMs, backoffMaxMs, maxRetryWaitMs, sleep, random } = options;
  return { timeoutMs, maxBodyBytes, retries, backoffBaseMs, backoffMaxMs, maxRetryWaitMs, sleep, random };
}

export interface FetchedBody {
  url: string;
  status: number;
  headers: Headers;
  body: Buffer;
  attempts: number;
}

const defaultSleep = async (ms: number, signal?: AbortSignal): Promise<void> => {
  await sleepFor(ms, undefined, signal ? { signal } : undefined);
};

/** Exponential backoff with "equal jitter": half fixed, half random, so retries spread out. */
export function backoffDelayMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/**
 * How long the server asks us to wait, in ms, or undefined when it does not say.
 * Reads `Retry-After` (delta-seconds or an HTTP date), then the IETF `RateLimit` header
 * (`"policy";r=0;t=55` in recent drafts, `limit=…, remaining=0, reset=55` in older ones, as sent
 * by the Hugging Face Hub), then `RateLimit-Reset` / `X-RateLimit-Reset`.
 */
export function serverRequestedDelayMs(headers: Headers, nowMs: number = Date.now()): number | undefined {
  const retryAfter = headers.get('retry-after')?.trim();
  if (retryAfter) {
    if (/^\d+$/.test(retryAfter)) return Number(retryAfter) * 1000;
    const at = Date.parse(retryAfter);
    if (!Number.isNaN(at)) return Math.max(0, at - nowMs);
  }
  const rateLimit = headers.get('ratelimit');
  if (rateLimit) {
    // Several policies may be listed; waiting for the latest reset satisfies all of them.
    const resets = [...rateLimit.matchAll(/(?:^|[;,\s])(?:t|reset)\s*=\s*(\d+)/g)].map((m) => Number(m[1]));
    if (resets.length > 0) return Math.max(...resets) * 1000;
  }
  const reset = (headers.get('ratelimit-reset') ?? headers.get('x-ratelimit-reset'))?.trim();
  if (reset && /^\d+$/.test(reset)) {
    const value = Number(reset);
    // Some servers send an epoch timestamp here rather than seconds to wait.
    return value > 1_000_000_000 ? Math.max(0, value * 1000 - nowMs) : value * 1000;
  }
  return undefined;
}

const isRetryableStatus = (status: number) => status === 408 || status === 429 || status >= 500;

/**
 * GETs `url`, retrying transient failures, and returns the body of the first answer that is not
 * worth retrying (2xx, 3xx after redirects, or a 4xx other than 408/429) so callers can read
 * error bodies (arXiv explains a bad query in a 400's Atom feed). Throws PaperSourceError when the
 * retries are used up, on timeout/network errors after the last retry, and at once for a body
 * over the cap.
 */
export async function fetchWithRetry(url: string, options: HttpFetchOptions = {}): Promise<FetchedBody> {
  const policy: HttpPolicy = {
    timeoutMs: options.timeoutMs ?? defaultHttpPolicy.timeoutMs,
    maxBodyBytes: options.maxBodyBytes ?? defaultHttpPolicy.maxBodyBytes,
    retries: options.retries ?? defaultHttpPolicy.retries,
    backoffBaseMs: options.backoffBaseMs ?? defaultHttpPolicy.backoffBaseMs,
    backoffMaxMs: options.backoffMaxMs ?? defaultHttpPolicy.backoffMaxMs,
    maxRetryWaitMs: options.maxRetryWaitMs ?? defaultHttpPolicy.maxRetryWaitMs,
  };
  const sleep = options.sleep ?? defaultSleep;
  const random = options.random ?? Math.random;
  const outer = options.signal;

  for (let attempt = 1; ; attempt++) {
    if (outer?.aborted) throw abortedError(url, attempt - 1, outer.reason);
    let failure: PaperSourceError;
    let requestedWaitMs: number | undefined;
    const timeout = AbortSignal.timeout(policy.timeoutMs);
    const signal = outer ? AbortSignal.any([timeout, outer]) : timeout;
    try {
      const response = await fetch(url, { headers: options.headers, signal, redirect: 'follow' });
      if (isRetryableStatus(response.status)) {
        // Free the connection: the body of an error page is of no use to us.
        await response.body?.cancel().catch(() => {});
        failure = new PaperSourceError('HTTP_STATUS', `${url} answered HTTP ${response.status}`, {
          url,
          status: response.status,
          retryable: true,
        });
        if (response.status === 429 || response.status === 503) requestedWaitMs = serverRequestedDelayMs(response.headers);
      } else {
        const body = await readCappedBody(response, url, policy.maxBodyBytes);
        return { url, status: response.status, headers: response.headers, body, attempts: attempt };
      }
    } catch (error) {
      if (error instanceof PaperSourceError && !error.retryable) {
        error.attempts = attempt;
        throw error;
      }
      if (outer?.aborted) throw abortedError(url, attempt, outer.reason);
      failure = timeout.aborted
        ? new PaperSourceError('TIMEOUT', `${url} did not answer within ${policy.timeoutMs} ms`, {
            url,
            retryable: true,
            cause: error,
          })
        : new PaperSourceError('NETWORK', `${url} failed: ${describeNetworkError(error)}`, {
            url,
            retryable: true,
            cause: error,
          });
    }
    failure.attempts = attempt;
    if (attempt > policy.retries) throw failure;
    const waitMs =
      requestedWaitMs !== undefined
        ? Math.min(requestedWaitMs, policy.maxRetryWaitMs)
        : backoffDelayMs(attempt, policy.backoffBaseMs, policy.backoffMaxMs, random);
    options.onRetry?.({ url, attempt, waitMs, reason: failure.message, status: failure.status });
    try {
      await sleep(waitMs, outer);
    } catch (error) {
      throw abortedError(url, attempt, error);
    }
  }
}

function abortedError(url: string, attempts: number, cause: unknown): PaperSourceError {
  return new PaperSourceError('ABORTED', `request to ${url} was aborted`, { url, attempts, cause });
}

function describeNetworkError(error: unknown): string {
  // undici reports "fetch failed" and puts the useful part (ECONNREFUSED, socket hang up) in cause.
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  const message = (error as Error)?.message ?? String(error);
  return cause ? `${message} (${cause.code ?? cause.message ?? 'unknown cause'})` : message;
}

/** Reads the body as a stream and gives up as soon as it passes the cap, without buffering the rest. */
async function readCappedBody(response: Response, url: string, maxBytes: number): Promise<Buffer> {
  const tooLarge = (bytesRead: number, declared?: number) =>
    new PaperSourceError(
      'BODY_TOO_LARGE',
      declared !== undefined
        ? `${url} announced a ${declared}-byte body, over the ${maxBytes}-byte limit`
        : `${url} sent more than the ${maxBytes}-byte limit`,
      { url, status: response.status, bytesRead },
    );
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    await response.body?.cancel().catch(() => {});
    throw tooLarge(0, declared);
  }
  if (!response.body) return Buffer.alloc(0);
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      // Cancelling destroys the socket, so the server stops sending.
      await reader.cancel().catch(() => {});
      throw tooLarge(total);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, total);
}
