import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DomainError } from '../errors.ts';

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/**
 * Whether the Authorization header carries the admin bearer token. Both sides are hashed first so
 * the comparison is constant-time and fixed-length: neither the token's content nor its length
 * leaks through timing. Without a configured token every request is refused.
 */
export function isAdminAuthorized(authorization: string | undefined, adminToken: string | undefined): boolean {
  if (typeof authorization !== 'string') return false;
  const match = /^Bearer[ ]+([\x21-\x7e]{1,512})[ ]*$/i.exec(authorization);
  return matchesAdminToken(match ? match[1]! : undefined, adminToken);
}

/** The same constant-time comparison for a token typed into the console's sign-in form. */
export function matchesAdminToken(given: string | undefined, adminToken: string | undefined): boolean {
  if (!adminToken) return false;
  // Compare something even when nothing usable was given, so that path costs the same.
  const same = timingSafeEqual(digest(given ?? ''), digest(adminToken));
  return same && given !== undefined && given.length > 0;
}

/**
 * The one admin check, as a hook for `onRequest` (preferred: it runs before the body is read) or
 * `preHandler`. Admin route modules register it on their scope, so no admin route is reachable
 * without it. The token is never logged: the logger drops the Authorization header.
 */
export async function requireAdmin(req: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (!isAdminAuthorized(req.headers.authorization, req.server.deps.config.adminToken)) {
    reply.header('www-authenticate', 'Bearer realm="paperboy-admin"');
    throw new DomainError('unauthorized', 'A valid admin bearer token is required.');
  }
}
