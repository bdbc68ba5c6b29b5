import { createHash } from 'node:crypto';
import { normalizeIP, type FastifyRateLimitOptions } from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { RedisConnection as Redis } from '../redis-connection.ts';
import type { RateLimit } from '../config/rate-list.ts';
import { DomainError } from '../errors.ts';

/**
 * Rate limits live in Redis so every API replica counts against the same buckets. When Redis is
 * unreachable the limits are skipped rather than failing sign-ups and unsubscribes; the per-address
 * confirmation window in Postgres still caps the mail a flood could cause.
 */
export function rateLimitOptions(redis: Redis, namespace: string): FastifyRateLimitOptions {
  return { global: false, redis, nameSpace: `${namespace}:`, skipOnError: true };
}

export type KeyOf = (req: FastifyRequest) => string;

/** The client address, IPv4-mapped addresses unmapped and IPv6 grouped by /64 (one customer's prefix). */
export const clientIpKey: KeyOf = (req) => normalizeIP(req.ip, 64);

/** Keys never hold an address or a token in the clear. */
export const hashedKey = (value: string) => createHash('sha256').update(value, 'utf8').digest('base64url').slice(0, 27);

/**
 * A hook that counts the request against each limit (e.g. per minute and per day) and answers
 * 429 with Retry-After once any is exceeded. `name` keeps the buckets of different limiters apart.
 */
export function limiter(app: Pick<FastifyInstance, 'createRateLimit'>, name: string, limits: readonly RateLimit[], keyOf: KeyOf) {
  const checks = limits.map((limit) =>
    app.createRateLimit({
      max: limit.max,
      timeWindow: limit.windowMs,
      keyGenerator: (req) => `${name}:${limit.windowMs}:${keyOf(req)}`,
    }),
  );
  return async function rateLimited(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    for (const check of checks) {
      const result = await check(req);
      if (!result.isAllowed && result.isExceeded) {
        reply.header('retry-after', String(Math.max(1, result.ttlInSeconds)));
        throw new DomainError('rate_limited', 'Too many requests. Please wait a moment and try again.');
      }
    }
  };
}
