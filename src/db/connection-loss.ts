/**
 * Postgres going away for a moment (a restart, a failover, `pg_terminate_backend`) must cost
 * time, not work: a write whose outcome we know (a message the relay accepted) is written once
 * the database is back. Only errors that say the connection failed are retried; a constraint
 * violation or a bad statement fails at once as before.
 */

// SQLSTATE classes and codes: 08 connection exception, 57P01–57P03 admin/crash shutdown and
// "cannot connect now" (a starting server), 53300 too many connections.
const RETRYABLE_SQLSTATE = /^(08\d{3}|57P0[123]|53300)$/;
const RETRYABLE_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
const RETRYABLE_MESSAGE = /Connection terminated|connection error and is not queryable|Client was closed and is not queryable|timeout exceeded when trying to connect|the database system is (starting up|shutting down|in recovery mode)|terminating connection/i;

export function isConnectionLoss(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown } | undefined;
  if (!e) return false;
  if (typeof e.code === 'string' && (RETRYABLE_SQLSTATE.test(e.code) || RETRYABLE_ERRNO.has(e.code))) return true;
  return typeof e.message === 'string' && RETRYABLE_MESSAGE.test(e.message);
}

export interface RetryOptions {
  /** Give up (and throw the last error) after this long; default 5 minutes. */
  maxMs?: number;
  log?: { warn(data: object, message: string): void };
  what?: string;
}

/**
 * Runs `work` again, with exponential backoff and jitter (100 ms doubling to 5 s), while it
 * fails with a lost connection. `work` must be safe to repeat: every caller here is an
 * idempotent statement (guarded by status) or a read.
 */
export async function retryOnConnectionLoss<T>(work: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const started = Date.now();
  const maxMs = options.maxMs ?? 300_000;
  for (let attempt = 0; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (!isConnectionLoss(error) || Date.now() - started > maxMs) throw error;
      const delay = Math.min(5_000, 100 * 2 ** attempt) * (0.5 + Math.random() / 2);
      if (attempt === 0 || attempt % 5 === 0) {
        options.log?.warn({ err: (error as Error).message, attempt: attempt + 1, what: options.what }, 'database connection lost: retrying');
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}
