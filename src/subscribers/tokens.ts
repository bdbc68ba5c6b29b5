import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** 32 random bytes (256 bits), base64url: a capability, not derived from any data. */
export function generateConfirmationToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Only the hash is stored, so a database leak does not leak live links. */
export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

export const CONFIRMATION_TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

const SIGNATURE_BYTES = 18; // 144 bits
const SUBSCRIBER_TOKEN = /^([0-9a-z]{1,12})\.([0-9a-z]{1,6})\.([A-Za-z0-9_-]{24})$/;

/** Purposes are signed into the MAC, so a token for one never works for another. */
export type TokenPurpose = 'unsubscribe' | 'preferences';

/** The signing secret first, then any still accepted (SECRET_PREVIOUS during a rotation). */
export type VerificationSecrets = string | readonly string[];

const secretList = (secrets: VerificationSecrets): readonly string[] => (typeof secrets === 'string' ? [secrets] : secrets);

function sign(secret: string, purpose: TokenPurpose, subscriberId: number, version: number): Buffer {
  return createHmac('sha256', secret)
    .update(`${purpose}:${subscriberId}:${version}`)
    .digest()
    .subarray(0, SIGNATURE_BYTES);
}

/**
 * A long-lived link token: the subscriber id, a version that revokes older links when bumped,
 * and an HMAC over both bound to its purpose. It never contains the address.
 */
export function createSubscriberToken(secret: string, purpose: TokenPurpose, subscriberId: number, version: number): string {
  const signature = sign(secret, purpose, subscriberId, version).toString('base64url');
  return `${subscriberId.toString(36)}.${version.toString(36)}.${signature}`;
}

export interface VerifiedSubscriberToken {
  subscriberId: number;
  version: number;
}

/**
 * Returns the ids when the signature matches one of the secrets (compared in constant time),
 * otherwise undefined. Every accepted secret is tried, so timing does not tell which one matched.
 */
export function verifySubscriberToken(
  secrets: VerificationSecrets,
  purpose: TokenPurpose,
  token: string,
): VerifiedSubscriberToken | undefined {
  const match = SUBSCRIBER_TOKEN.exec(token);
  if (!match) return undefined;
  const subscriberId = Number.parseInt(match[1]!, 36);
  const version = Number.parseInt(match[2]!, 36);
  if (!Number.isSafeInteger(subscriberId) || !Number.isSafeInteger(version)) return undefined;
  // One spelling per token: '01' and '1' must not both verify.
  if (subscriberId.toString(36) !== match[1] || version.toString(36) !== match[2]) return undefined;
  const given = Buffer.from(match[3]!, 'base64url');
  // base64url decoding is lenient (the last character's spare bits): demand the one canonical spelling.
  if (given.length !== SIGNATURE_BYTES || given.toString('base64url') !== match[3]) return undefined;
  let valid = false;
  for (const secret of secretList(secrets)) {
    if (timingSafeEqual(given, sign(secret, purpose, subscriberId, version))) valid = true;
  }
  return valid ? { subscriberId, version } : undefined;
}

export type FormTokenCheck = 'ok' | 'too_fast' | 'too_old' | 'invalid';

const FORM_TOKEN = /^([0-9a-z]{1,11})\.([A-Za-z0-9_-]{22})$/;

function signFormTime(secret: string, issuedAtMs: number): Buffer {
  return createHmac('sha256', secret).update(`form:${issuedAtMs}`).digest().subarray(0, 16);
}

/** A server-signed render time for the subscribe form (the time trap against form bots). */
export function createFormToken(secret: string, nowMs: number = Date.now()): string {
  return `${nowMs.toString(36)}.${signFormTime(secret, nowMs).toString('base64url')}`;
}

/** Checks that the form was rendered by us, at least `minFillMs` and at most `maxAgeMs` ago. */
export function checkFormToken(
  secrets: VerificationSecrets,
  token: unknown,
  limits: { minFillMs: number; maxAgeMs: number },
  nowMs: number = Date.now(),
): FormTokenCheck {
  if (typeof token !== 'string') return 'invalid';
  const match = FORM_TOKEN.exec(token);
  if (!match) return 'invalid';
  const issuedAt = Number.parseInt(match[1]!, 36);
  if (!Number.isSafeInteger(issuedAt) || issuedAt.toString(36) !== match[1]) return 'invalid';
  const given = Buffer.from(match[2]!, 'base64url');
  if (given.length !== 16 || given.toString('base64url') !== match[2]) return 'invalid';
  let valid = false;
  for (const secret of secretList(secrets)) {
    if (timingSafeEqual(given, signFormTime(secret, issuedAt))) valid = true;
  }
  if (!valid) return 'invalid';
  const age = nowMs - issuedAt;
  if (age < limits.minFillMs) return 'too_fast';
  if (age > limits.maxAgeMs) return 'too_old';
  return 'ok';
}
