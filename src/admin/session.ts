import { createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Admin console sessions. Signing in with ADMIN_TOKEN creates a random session token; the cookie
 * carries it (signed, src/http/admin-session.ts) and Postgres keeps only its hash with an expiry,
 * so signing out or deleting the row ends the session at once, on every API replica.
 */

export type ConsoleKeyPurpose = 'admin-session-cookie' | 'admin-csrf';

/**
 * A key for one purpose derived from SECRET with HKDF (RFC 5869): the console never signs with
 * the key that signs subscriber links, and a cookie signature is no CSRF token or vice versa.
 */
export function deriveConsoleKey(secret: string, purpose: ConsoleKeyPurpose): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, 'paperboy', purpose, 32));
}

/** 256 random bits, base64url (43 characters). */
export function newSessionToken(): string {
  return randomBytes(32).toString('base64url');
}

export const SESSION_TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

export function sessionTokenHash(token: string): Buffer {
  return createHash('sha256').update(`admin-session:${token}`, 'utf8').digest();
}

/**
 * The form token of a session (synchroniser token bound to the session): every state-changing
 * console form carries it, so a page of another site cannot submit one even where the browser
 * would send the cookie. Derived, not stored: it lives exactly as long as the session.
 */
export function csrfTokenFor(secret: string, sessionToken: string): string {
  return createHmac('sha256', deriveConsoleKey(secret, 'admin-csrf')).update(sessionToken).digest().subarray(0, 18).toString('base64url');
}

/** Compared against every accepted secret (SECRET_PREVIOUS during a rotation) in constant time. */
export function isCsrfTokenValid(secrets: readonly string[], sessionToken: string, given: unknown): boolean {
  if (typeof given !== 'string' || !/^[A-Za-z0-9_-]{24}$/.test(given)) return false;
  const supplied = Buffer.from(given, 'base64url');
  let valid = false;
  for (const secret of secrets) {
    if (timingSafeEqual(supplied, Buffer.from(csrfTokenFor(secret, sessionToken), 'base64url'))) valid = true;
  }
  return valid;
}
