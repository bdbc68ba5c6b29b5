import type { Database } from '../db/database.ts';
import { DomainError } from '../errors.ts';
import type { Mailer } from '../delivery/mailer.ts';
import { classifySmtpError } from '../delivery/smtp-errors.ts';
import {
  countConfirmationTokensIssuedSince,
  findConfirmationToken,
  findLatestLiveTokenIssuedAt,
  insertConfirmationToken,
  markConfirmationTokenUsed,
} from './confirmation-token.repository.ts';
import { CONFIRMATION_VALID_HOURS, renderConfirmationEmail } from './confirmation-email.ts';
import { emailProblemMessages, normaliseEmailAddress } from './email-address.ts';
import { collectPersonalData, type PersonalDataExport } from './personal-data.ts';
import {
  activateSubscriber,
  deleteSubscriber,
  findSubscriberById,
  markResubscribed,
  markUnsubscribed,
  upsertSignup,
} from './subscriber.repository.ts';
import type { Subscriber } from './subscriber.table.ts';
import { addSuppression, removeSuppression, suppressionHash } from './suppression.repository.ts';
import {
  CONFIRMATION_TOKEN_SHAPE,
  createSubscriberToken,
  generateConfirmationToken,
  hashToken,
  verifySubscriberToken,
  type TokenPurpose,
  type VerificationSecrets,
} from './tokens.ts';
import { isKnownTimeZone } from '../dates.ts';

export interface SubscribeInput {
  email: string;
  topics: string[];
  timeZone: string | undefined;
  ip: string;
  userAgent: string | null;
  form: string;
}

/** Re-sending a confirmation inside this window is suppressed, however often it is requested. */
export const CONFIRMATION_RESEND_WINDOW_MS = 10 * 60 * 1000;

/**
 * Records a sign-up and, where a confirmation is due, queues it. The caller answers the same
 * whatever the address's state; all email work happens in the queue, not in the request.
 */
export async function subscribe(deps: { db: Database; enqueueConfirmation: (subscriberId: number) => Promise<void> }, input: SubscribeInput): Promise<void> {
  const parsed = normaliseEmailAddress(input.email);
  if (!parsed.ok) throw new DomainError('invalid_email', emailProblemMessages[parsed.problem]);
  const timeZone = input.timeZone && isKnownTimeZone(input.timeZone) ? input.timeZone : 'UTC';
  const consent = { subscribedAt: new Date().toISOString(), ip: input.ip, userAgent: input.userAgent, form: input.form };

  // The same statement and the same job whatever the address's state: the answer and its timing
  // reveal nothing. The worker decides whether a confirmation is due (not for active, bounced or
  // complained addresses; at most one per address per resend window).
  const subscriberId = await upsertSignup(deps.db, { email: parsed.address, topics: input.topics, timeZone, consent });
  await deps.enqueueConfirmation(subscriberId);
}

export interface ConfirmationMailDeps {
  db: Database;
  mailer: Mailer;
  publicUrl: string;
  mailFrom: { name: string; address: string };
  /** Confirmation emails per hour across all addresses; 0 or absent: no cap. */
  maxPerHour?: number;
}

/** Worker side of a sign-up: issues a fresh token (only its hash is stored) and mails the link. */
export async function sendConfirmationEmail(deps: ConfirmationMailDeps, subscriberId: number): Promise<'sent' | 'not_needed' | 'recently_sent' | 'over_hourly_cap' | 'rejected'> {
  const subscriber = await findSubscriberById(deps.db, subscriberId);
  if (!subscriber || (subscriber.status !== 'pending' && subscriber.status !== 'unsubscribed')) return 'not_needed';
  const lastIssued = await findLatestLiveTokenIssuedAt(deps.db, subscriberId);
  if (lastIssued && Date.now() - lastIssued.getTime() < CONFIRMATION_RESEND_WINDOW_MS) return 'recently_sent';
  // A flood of sign-ups for many addresses (which per-IP and per-address limits cannot see) must
  // not turn us into a mail cannon: past the hourly cap, requests are dropped; people can retry.
  if (deps.maxPerHour && (await countConfirmationTokensIssuedSince(deps.db, 3600)) >= deps.maxPerHour) return 'over_hourly_cap';

  const token = generateConfirmationToken();
  const tokenHash = hashToken(token);
  const expiresAt = new Date(Date.now() + CONFIRMATION_VALID_HOURS * 3600 * 1000);
  await insertConfirmationToken(deps.db, { subscriberId, tokenHash, expiresAt });
  const email = await renderConfirmationEmail(`${deps.publicUrl}/confirm/${token}`);
  try {
    await deps.mailer.send({
      from: deps.mailFrom,
      to: { name: '', address: subscriber.email },
      subject: email.subject,
      html: email.html,
      text: email.text,
      headers: { 'Auto-Submitted': 'auto-generated' },
    });
  } catch (error) {
    // Without the mail the token is useless, and keeping it would block the retry by the window.
    await deps.db.deleteFrom('confirmation_tokens').where('token_hash', '=', tokenHash).execute();
    // The same classifier as the digest: only a transient failure (4xx, a dropped connection) is
    // worth a retry by the queue; a permanent one will not change, so give up instead of hammering.
    if (classifySmtpError(error).kind !== 'transient') return 'rejected';
    throw error;
  }
  return 'sent';
}

export type ConfirmationState = 'valid' | 'already_confirmed' | 'expired' | 'invalid';

async function lookUpConfirmation(db: Database, token: string) {
  if (!CONFIRMATION_TOKEN_SHAPE.test(token)) return undefined;
  return findConfirmationToken(db, hashToken(token));
}

/** What the confirm page should show for a token, without changing anything (GET is safe). */
export async function inspectConfirmationToken(db: Database, token: string): Promise<ConfirmationState> {
  const row = await lookUpConfirmation(db, token);
  if (!row) return 'invalid';
  if (row.used_at) return 'already_confirmed';
  if (row.expires_at.getTime() <= Date.now()) return 'expired';
  return 'valid';
}

/** Confirms a subscription. Idempotent: a used token answers `already_confirmed`. */
export async function confirmSubscription(
  db: Database,
  token: string,
  request: { ip: string; userAgent: string | null },
): Promise<'confirmed' | 'already_confirmed'> {
  if (!CONFIRMATION_TOKEN_SHAPE.test(token)) throw new DomainError('invalid_token', 'This confirmation link is not valid.');
  return db.transaction().execute(async (trx) => {
    const row = await findConfirmationToken(trx, hashToken(token), { lock: true });
    if (!row) throw new DomainError('invalid_token', 'This confirmation link is not valid.');
    if (row.used_at) return 'already_confirmed';
    if (row.expires_at.getTime() <= Date.now()) {
      throw new DomainError('expired_token', 'This confirmation link has expired. Please subscribe again to get a new one.');
    }
    const subscriber = await findSubscriberById(trx, row.subscriber_id);
    if (!subscriber) throw new DomainError('invalid_token', 'This confirmation link is not valid.');
    await markConfirmationTokenUsed(trx, row.id);
    if (subscriber.status === 'pending' || subscriber.status === 'unsubscribed') {
      await activateSubscriber(trx, subscriber.id, request);
      // A proven new opt-in lifts an earlier erasure's suppression.
      await removeSuppression(trx, suppressionHash(subscriber.email));
      return 'confirmed';
    }
    return 'already_confirmed';
  });
}

async function subscriberFromLinkToken(db: Database, secrets: VerificationSecrets, purpose: TokenPurpose, token: string) {
  const verified = verifySubscriberToken(secrets, purpose, token);
  if (!verified) return undefined;
  const subscriber = await findSubscriberById(db, verified.subscriberId);
  // Bumping token_version revokes every link issued before.
  if (!subscriber || subscriber.token_version !== verified.version) return undefined;
  return subscriber;
}

/** Signing uses the first secret only; the rest are accepted while links signed with them live. */
const signingSecret = (secrets: VerificationSecrets) => (typeof secrets === 'string' ? secrets : secrets[0]!);

export type LinkState = { subscribed: boolean; email: string; preferencesToken: string } | undefined;

/** For the unsubscribe page: whether the link is valid and the current state, changing nothing. */
export async function inspectUnsubscribeToken(db: Database, secrets: VerificationSecrets, token: string): Promise<LinkState> {
  const subscriber = await subscriberFromLinkToken(db, secrets, 'unsubscribe', token);
  if (!subscriber) return undefined;
  return {
    subscribed: subscriber.status === 'active' || subscriber.status === 'pending',
    email: subscriber.email,
    // The page links on to the preferences page with a token of that purpose.
    preferencesToken: createSubscriberToken(signingSecret(secrets), 'preferences', subscriber.id, subscriber.token_version),
  };
}

/** Unsubscribes at once. Idempotent; a forged or altered token changes nothing. */
export async function unsubscribe(db: Database, secrets: VerificationSecrets, token: string, source: 'one-click' | 'page'): Promise<'unsubscribed' | 'already_unsubscribed'> {
  const subscriber = await subscriberFromLinkToken(db, secrets, 'unsubscribe', token);
  if (!subscriber) throw new DomainError('invalid_token', 'This unsubscribe link is not valid.');
  return (await markUnsubscribed(db, subscriber.id, source)) ? 'unsubscribed' : 'already_unsubscribed';
}

/** Undoes an unsubscribe made by mistake, through the same link. */
export async function resubscribe(db: Database, secrets: VerificationSecrets, token: string): Promise<'resubscribed' | 'not_possible'> {
  const subscriber = await subscriberFromLinkToken(db, secrets, 'unsubscribe', token);
  if (!subscriber) throw new DomainError('invalid_token', 'This link is not valid.');
  if (subscriber.status === 'active') return 'resubscribed';
  return (await markResubscribed(db, subscriber.id)) ? 'resubscribed' : 'not_possible';
}

async function subscriberForPreferences(db: Database, secrets: VerificationSecrets, token: string): Promise<Subscriber> {
  const subscriber = await subscriberFromLinkToken(db, secrets, 'preferences', token);
  if (!subscriber) throw new DomainError('invalid_token', 'This preferences link is not valid.');
  return subscriber;
}

export interface PreferencesView {
  email: string;
  status: Subscriber['status'];
  topics: string[];
  timeZone: string;
  unsubscribeToken: string;
}

/** What the preferences page shows; changes nothing. */
export async function inspectPreferences(db: Database, secrets: VerificationSecrets, token: string): Promise<PreferencesView> {
  const subscriber = await subscriberForPreferences(db, secrets, token);
  return {
    email: subscriber.email,
    status: subscriber.status,
    topics: subscriber.topics,
    timeZone: subscriber.time_zone,
    unsubscribeToken: createSubscriberToken(signingSecret(secrets), 'unsubscribe', subscriber.id, subscriber.token_version),
  };
}

/** The person's own data, as JSON, through their preferences link. */
export async function exportPersonalData(db: Database, secrets: VerificationSecrets, token: string): Promise<PersonalDataExport> {
  const subscriber = await subscriberForPreferences(db, secrets, token);
  return collectPersonalData(db, subscriber);
}

/**
 * Erases the person: the row and everything hanging off it go; only a hash of the address stays
 * on the suppression list, so the address comes back only through a new, confirmed opt-in.
 */
export async function erasePersonalData(db: Database, secrets: VerificationSecrets, token: string): Promise<'erased'> {
  const subscriber = await subscriberForPreferences(db, secrets, token);
  await db.transaction().execute(async (trx) => {
    await addSuppression(trx, suppressionHash(subscriber.email), 'erased');
    await deleteSubscriber(trx, subscriber.id);
  });
  return 'erased';
}
