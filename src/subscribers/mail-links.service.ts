import type { Database, Executor } from '../db/database.ts';
import { DomainError } from '../errors.ts';
import { addSignupRequest, findSubscriberById, markUnsubscribed } from './subscriber.repository.ts';
import type { Subscriber } from './subscriber.table.ts';
import { addSuppression, suppressionHash } from './suppression.repository.ts';
import { createSubscriberToken, verifySubscriberToken, type TokenPurpose, type VerificationSecrets } from './tokens.ts';
import type { SubscriptionJobs } from './subscription.service.ts';

/*
 * What the signed links in every mail lead to: unsubscribe (page and one-click), resubscribe, the
 * preferences page; and an operator's suppression of a person.
 */

/** The subscriber id of `paperboy doctor`'s one-click probe link (src/ops/doctor.ts). */
export const PROBE_SUBSCRIBER_ID = 0;

async function subscriberFromLinkToken(db: Executor, secrets: VerificationSecrets, purpose: TokenPurpose, token: string) {
  const verified = verifySubscriberToken(secrets, purpose, token);
  if (!verified) return undefined;
  const subscriber = await findSubscriberById(db, verified.subscriberId);
  // Bumping token_version revokes every link issued before.
  if (!subscriber || subscriber.token_version !== verified.version) return undefined;
  return subscriber;
}

/** Signing uses the first secret only; the rest are accepted while links signed with them live. */
export const signingSecret = (secrets: VerificationSecrets) => (typeof secrets === 'string' ? secrets : secrets[0]!);

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

export interface RequestOrigin {
  ip: string;
  userAgent: string | null;
}

/** Unsubscribes at once. Idempotent; a forged or altered token changes nothing. */
export async function unsubscribe(
  db: Database,
  secrets: VerificationSecrets,
  token: string,
  source: 'one-click' | 'page',
  origin: RequestOrigin,
): Promise<'unsubscribed' | 'already_unsubscribed' | 'probe'> {
  // `paperboy doctor` proves the one-click endpoint works end to end with a signed link for the
  // probe id, which no person has (ids start at 1): answered like any one-click, changing nothing.
  if (verifySubscriberToken(secrets, 'unsubscribe', token)?.subscriberId === PROBE_SUBSCRIBER_ID) return 'probe';
  const subscriber = await subscriberFromLinkToken(db, secrets, 'unsubscribe', token);
  if (!subscriber) throw new DomainError('invalid_token', 'This unsubscribe link is not valid.');
  return (await markUnsubscribed(db, subscriber.id, source, origin)) ? 'unsubscribed' : 'already_unsubscribed';
}

/**
 * Resubscribing through an unsubscribe link: the link sits in every old digest (and every
 * forwarded one), so it proves nothing today. It only asks for a new opt-in: a confirmation email
 * goes to the address, and the person is subscribed again when they confirm.
 */
export async function resubscribe(
  deps: { db: Database } & Pick<SubscriptionJobs, 'enqueueConfirmation'>,
  secrets: VerificationSecrets,
  token: string,
  origin: RequestOrigin,
): Promise<'confirmation_sent' | 'already_subscribed' | 'not_possible'> {
  const subscriber = await subscriberFromLinkToken(deps.db, secrets, 'unsubscribe', token);
  if (!subscriber) throw new DomainError('invalid_token', 'This link is not valid.');
  if (subscriber.status === 'active') return 'already_subscribed';
  if (subscriber.status !== 'unsubscribed' && subscriber.status !== 'pending') return 'not_possible';
  await addSignupRequest(deps.db, subscriber.id, {
    kind: 'resubscribed',
    email: subscriber.email,
    topics: subscriber.topics,
    timeZone: subscriber.time_zone,
    ip: origin.ip,
    userAgent: origin.userAgent,
    source: 'resubscribe link',
  });
  await deps.enqueueConfirmation(subscriber.id);
  return 'confirmation_sent';
}

/** The reader behind a live preferences link; a forged, altered or revoked one is a 404. */
export async function subscriberForPreferences(db: Executor, secrets: VerificationSecrets, token: string): Promise<Subscriber> {
  const subscriber = await subscriberFromLinkToken(db, secrets, 'preferences', token);
  if (!subscriber) throw new DomainError('invalid_token', 'This preferences link is not valid.');
  return subscriber;
}

/**
 * An operator stops all mail to a person (abuse report, a request by other means): unsubscribed
 * with the reason in the consent history, and the address on the suppression list, so neither a
 * CSV import nor anything short of a new confirmed opt-in brings it back. Returns whether it changed anything.
 */
export async function suppressSubscriber(db: Database, subscriber: Pick<Subscriber, 'id' | 'email'>, source: string): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const hash = suppressionHash(subscriber.email);
    const already = await trx.selectFrom('suppressions').select('reason').where('address_hash', '=', hash).executeTakeFirst();
    await addSuppression(trx, hash, 'operator');
    const unsubscribed = await markUnsubscribed(trx, subscriber.id, source, { ip: null, userAgent: null });
    return unsubscribed || !already;
  });
}
