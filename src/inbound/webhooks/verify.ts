import { createHmac, timingSafeEqual } from 'node:crypto';
import { sql } from 'kysely';
import type { Executor } from '../../db/database.ts';

const equal = (a: string, b: string) => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

/** Mailgun's signature window: a call older or newer than this is refused (replays, clock games). */
export const MAILGUN_MAX_SKEW_SECONDS = 300;

/**
 * Mailgun (documentation "Securing Webhooks"): signature = hex HMAC-SHA256 over timestamp + token
 * with the webhook signing key. Returns what is wrong, or undefined when the signature holds.
 */
export function verifyMailgunSignature(key: string, signature: { timestamp: string; token: string; signature: string }, nowMs = Date.now()): 'forged' | 'stale' | undefined {
  const expected = createHmac('sha256', key).update(signature.timestamp + signature.token).digest('hex');
  if (!equal(expected, signature.signature.toLowerCase())) return 'forged';
  const age = nowMs / 1000 - Number(signature.timestamp);
  if (!Number.isFinite(age) || Math.abs(age) > MAILGUN_MAX_SKEW_SECONDS) return 'stale';
  return undefined;
}

/** Records a token once; false when it was seen before (a replayed call). */
export async function claimReplayKey(db: Executor, key: string): Promise<boolean> {
  const row = await db.insertInto('webhook_replay').values({ key: key.slice(0, 300) }).onConflict((oc) => oc.column('key').doNothing()).returning('key').executeTakeFirst();
  return row !== undefined;
}

export async function pruneReplayKeys(db: Executor): Promise<void> {
  await db.deleteFrom('webhook_replay').where('seen_at', '<', sql<Date>`now() - interval '1 day'`).execute();
}

/** Postmark: basic auth (its webhook URL may carry user:password) with the token as password, or ?token=. */
export function verifyPostmark(token: string, authorization: string | undefined, queryToken: string | undefined): boolean {
  if (queryToken !== undefined && equal(queryToken, token)) return true;
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(authorization ?? '');
  if (!basic) return false;
  const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon >= 0 && equal(decoded.slice(colon + 1), token);
}
