import { sign, unsign, type UnsignResult } from '@fastify/cookie';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { deleteAdminSession, findLiveAdminSession, insertAdminSession } from '../admin/session.repository.ts';
import { csrfTokenFor, deriveConsoleKey, isCsrfTokenValid, newSessionToken, SESSION_TOKEN_SHAPE, sessionTokenHash } from '../admin/session.ts';
import type { Config } from '../config.ts';
import { verificationSecrets } from '../config/secrets.ts';
import type { Database } from '../db/database.ts';
import { DomainError } from '../errors.ts';
import { isSameOriginRequest } from './same-origin.ts';

export interface ConsoleSession {
  token: string;
  /** The form token every state-changing console form carries (src/admin/session.ts). */
  csrf: string;
  expiresAt: Date;
}

declare module 'fastify' {
  interface FastifyRequest {
    consoleSession?: ConsoleSession;
  }
  interface FastifyContextConfig {
    /** Console routes reachable without a session (the sign-in page and form). */
    signedOut?: boolean;
    /** Console routes whose unsafe requests are checked for origin only (Bull Board's own API calls). */
    sameOriginOnly?: boolean;
  }
}

const isHttps = (config: Pick<Config, 'publicUrl'>) => new URL(config.publicUrl).protocol === 'https:';

/** `__Secure-` makes browsers refuse the cookie unless it came over https with Secure set. */
export const sessionCookieName = (config: Pick<Config, 'publicUrl'>) => (isHttps(config) ? '__Secure-paperboy-admin' : 'paperboy-admin');

/**
 * Signs with a key derived from SECRET, and still accepts cookies signed under SECRET_PREVIOUS
 * during a rotation. Keys are derived per call: SECRET may be replaced after start-up by the
 * database's development secret (src/db/development-secret.ts).
 */
export function consoleCookieSigner(config: Config): { sign(value: string): string; unsign(input: string): UnsignResult } {
  return {
    sign: (value: string) => sign(value, deriveConsoleKey(config.secret, 'admin-session-cookie')),
    unsign(input: string): UnsignResult {
      for (const [i, secret] of verificationSecrets(config).entries()) {
        const result = unsign(input, deriveConsoleKey(secret, 'admin-session-cookie'));
        if (result.valid) return { ...result, renew: i > 0 };
      }
      return { valid: false, renew: false, value: null };
    },
  };
}

/** The live session the request's cookie names; a forged, altered, expired or signed-out one is none. */
export async function readConsoleSession(req: FastifyRequest, db: Database, config: Config): Promise<ConsoleSession | undefined> {
  const raw = req.cookies[sessionCookieName(config)];
  if (!raw) return undefined;
  const unsigned = req.unsignCookie(raw);
  if (!unsigned.valid || unsigned.value === null || !SESSION_TOKEN_SHAPE.test(unsigned.value)) return undefined;
  const row = await findLiveAdminSession(db, sessionTokenHash(unsigned.value));
  if (!row) return undefined;
  return { token: unsigned.value, csrf: csrfTokenFor(config.secret, unsigned.value), expiresAt: new Date(row.expires_at) };
}

export async function startConsoleSession(reply: FastifyReply, db: Database, config: Config): Promise<void> {
  const token = newSessionToken();
  await insertAdminSession(db, sessionTokenHash(token), new Date(Date.now() + config.adminSessionMs));
  reply.setCookie(sessionCookieName(config), token, {
    signed: true,
    httpOnly: true,
    secure: isHttps(config),
    // Strict: a link or form from another site never arrives signed in.
    sameSite: 'strict',
    path: '/admin',
    maxAge: Math.floor(config.adminSessionMs / 1000),
  });
}

export async function endConsoleSession(reply: FastifyReply, db: Database, config: Config, session: ConsoleSession | undefined): Promise<void> {
  if (session) await deleteAdminSession(db, sessionTokenHash(session.token));
  reply.clearCookie(sessionCookieName(config), { path: '/admin', httpOnly: true, secure: isHttps(config), sameSite: 'strict' });
}

const unsafe = (method: string) => method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS';

/**
 * Cross-site requests first (fetch metadata and Origin, as the public forms: src/http/same-origin.ts),
 * so another site's form post is a 403 whatever cookies it carries.
 */
export function refuseCrossSite(config: Config) {
  return async function crossSite(req: FastifyRequest): Promise<void> {
    if (unsafe(req.method) && !isSameOriginRequest(req, config.publicUrl)) throw new DomainError('forbidden', 'This form can only be sent from this site.');
  };
}

/** The form token of the session, from an urlencoded form or a multipart field (attached to the body). */
function formCsrfField(body: unknown): unknown {
  if (typeof body !== 'object' || body === null || !('_csrf' in body)) return undefined;
  const field = (body as { _csrf: unknown })._csrf;
  if (typeof field === 'object' && field !== null && 'value' in field) return (field as { value: unknown }).value;
  return field;
}

/** preHandler: every unsafe console request carries the session's form token (after the body is read). */
export function requireCsrfToken(config: Config) {
  return async function csrf(req: FastifyRequest): Promise<void> {
    if (!unsafe(req.method) || req.routeOptions.config.signedOut || req.routeOptions.config.sameOriginOnly) return;
    const session = req.consoleSession;
    if (!session || !isCsrfTokenValid(verificationSecrets(config), session.token, formCsrfField(req.body))) {
      throw new DomainError('forbidden', 'This form has expired or did not come from the console. Reload the page and try again.');
    }
  };
}
