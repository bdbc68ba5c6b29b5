import type { RateLimit } from '../config/rate-list.ts';
import type { Database } from '../db/database.ts';
import { DomainError } from '../errors.ts';
import type { Mailer } from '../delivery/mailer.ts';
import { classifySmtpError } from '../delivery/smtp-errors.ts';
import {
  countConfirmationTokensIssuedSince,
  countTokensIssuedForMailboxSince,
  findConfirmationToken,
  findLatestLiveTokenIssuedAtForMailbox,
  insertConfirmationToken,
  markConfirmationTokenUsed,
} from './confirmation-token.repository.ts';
import { CONFIRMATION_VALID_HOURS, renderConfirmationEmail } from './confirmation-email.ts';
import { emailProblemMessages, normaliseEmailAddress } from './email-address.ts';
import {
  activateSubscriber,
  findLatestSignupRequest,
  findSignupRequest,
  findSubscriberById,
  recordSignupRequest,
} from './subscriber.repository.ts';
import { removeSuppression, suppressionHash } from './suppression.repository.ts';
import { CONFIRMATION_TOKEN_SHAPE, generateConfirmationToken, hashToken } from './tokens.ts';
import { PreferenceError } from './preferences.ts';
import { canonicalTimeZone, UNKNOWN_TIME_ZONE_MESSAGE } from './time-zones.ts';
import { validateTopics } from './topics.ts';

/*
 * Sign-up and confirmation (double opt-in). What the links in sent mail lead to is in
 * mail-links.service.ts; data export and erasure in data-access.service.ts.
 */

export interface SubscribeInput {
  email: string;
  /** As typed: src/subscribers/topics.ts parses and checks them. */
  topics: string | readonly string[] | undefined;
  /** An IANA name (src/subscribers/time-zones.ts); empty or absent: UTC. */
  timeZone: string | undefined;
  ip: string;
  userAgent: string | null;
  form: string;
}

/** Re-sending a confirmation inside this window is suppressed, however often it is requested. */
export const CONFIRMATION_RESEND_WINDOW_MS = 10 * 60 * 1000;

/** What the subscription flows need to queue mail; src/app/jobs.ts implements it on the queues. */
export interface SubscriptionJobs {
  enqueueConfirmation(subscriberId: number): Promise<void>;
  enqueueDataAccess(subscriberId: number): Promise<void>;
  /** After a confirmation: the latest edition at once (src/delivery/welcome.ts), when configured. */
  enqueueWelcome(subscriberId: number): Promise<void>;
}

/**
 * Records a sign-up request and queues the worker that decides whether to mail a confirmation.
 * The caller answers the same whatever the address's state, and nothing about an existing person
 * changes here: the request's details apply only when its confirmation link is used. All email
 * work, and every per-address limit, happens in the queue, so no answer depends on the address.
 */
export async function subscribe(deps: { db: Database } & Pick<SubscriptionJobs, 'enqueueConfirmation'>, input: SubscribeInput): Promise<void> {
  const parsed = normaliseEmailAddress(input.email);
  if (!parsed.ok) throw new DomainError('invalid_email', emailProblemMessages[parsed.problem]);
  const topics = await validateTopics(deps.db, input.topics);
  if (!topics.ok) throw new PreferenceError('topics', topics.message);
  // Filled in by the browser (public/subscribe.js) or chosen from the list; empty means UTC.
  let timeZone = 'UTC';
  if (input.timeZone !== undefined && input.timeZone.trim() !== '') {
    const zone = canonicalTimeZone(input.timeZone);
    if (!zone) throw new PreferenceError('timeZone', UNKNOWN_TIME_ZONE_MESSAGE);
    timeZone = zone;
  }
  const subscriberId = await recordSignupRequest(deps.db, {
    kind: 'subscribed',
    email: parsed.address,
    topics: topics.topics,
    timeZone,
    ip: input.ip,
    userAgent: input.userAgent,
    source: input.form,
  });
  await deps.enqueueConfirmation(subscriberId);
}

export interface ConfirmationMailDeps {
  db: Database;
  mailer: Mailer;
  publicUrl: string;
  mailFrom: { name: string; address: string };
  /** Confirmation emails per hour across all addresses; 0 or absent: no cap. */
  maxPerHour?: number;
  /** Confirmation emails per mailbox (every spelling and sub-address together) per window. */
  perMailbox?: readonly RateLimit[];
}

/**
 * Worker side of a sign-up: issues a fresh token for the newest request (only its hash is stored)
 * and mails the link. The per-person limits live here, counted by mailbox (lower-cased, `+tag`
 * removed), so Dave@, dave@ and dave+x@ share them, and no HTTP answer can reveal them.
 */
export async function sendConfirmationEmail(
  deps: ConfirmationMailDeps,
  subscriberId: number,
): Promise<'sent' | 'not_needed' | 'recently_sent' | 'over_address_limit' | 'over_hourly_cap' | 'rejected'> {
  const subscriber = await findSubscriberById(deps.db, subscriberId);
  if (!subscriber || (subscriber.status !== 'pending' && subscriber.status !== 'unsubscribed')) return 'not_needed';
  const lastIssued = await findLatestLiveTokenIssuedAtForMailbox(deps.db, subscriber.mailbox);
  if (lastIssued && Date.now() - lastIssued.getTime() < CONFIRMATION_RESEND_WINDOW_MS) return 'recently_sent';
  for (const limit of deps.perMailbox ?? []) {
    if ((await countTokensIssuedForMailboxSince(deps.db, subscriber.mailbox, limit.windowMs / 1000)) >= limit.max) return 'over_address_limit';
  }
  // A flood of sign-ups for many addresses (which per-IP and per-address limits cannot see) must
  // not turn us into a mail cannon: past the hourly cap, requests are dropped; people can retry.
  if (deps.maxPerHour && (await countConfirmationTokensIssuedSince(deps.db, 3600)) >= deps.maxPerHour) return 'over_hourly_cap';

  const token = generateConfirmationToken();
  const tokenHash = hashToken(token);
  const expiresAt = new Date(Date.now() + CONFIRMATION_VALID_HOURS * 3600 * 1000);
  const request = await findLatestSignupRequest(deps.db, subscriberId);
  await insertConfirmationToken(deps.db, { subscriberId, tokenHash, expiresAt, signupRequestId: request?.id ?? null });
  const email = await renderConfirmationEmail(`${deps.publicUrl}/confirm/${token}`);
  try {
    await deps.mailer.send({
      from: deps.mailFrom,
      // The spelling typed in this request: the one the person will recognise.
      to: { name: '', address: request?.email ?? subscriber.email },
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
  jobs?: Pick<SubscriptionJobs, 'enqueueWelcome'>,
): Promise<'confirmed' | 'already_confirmed'> {
  if (!CONFIRMATION_TOKEN_SHAPE.test(token)) throw new DomainError('invalid_token', 'This confirmation link is not valid.');
  let confirmedId: number | undefined;
  const result = await db.transaction().execute(async (trx): Promise<'confirmed' | 'already_confirmed'> => {
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
      const signup = row.signup_request_id ? await findSignupRequest(trx, row.signup_request_id) : undefined;
      await activateSubscriber(trx, subscriber.id, signup, request);
      // A proven new opt-in lifts an earlier erasure's suppression.
      await removeSuppression(trx, suppressionHash(signup?.email ?? subscriber.email));
      confirmedId = subscriber.id;
      return 'confirmed';
    }
    return 'already_confirmed';
  });
  // After the commit, so the worker finds the reader active.
  if (confirmedId !== undefined && jobs) await jobs.enqueueWelcome(confirmedId);
  return result;
}
