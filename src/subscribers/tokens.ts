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

export type TokenPurpose = 'unsubscribe';

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

/** Returns the ids when the signature matches (compared in constant time), otherwise undefined. */
export function verifySubscriberToken(
  secret: string,
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
  const expected = sign(secret, purpose, subscriberId, version);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  return { subscriberId, version };
}
