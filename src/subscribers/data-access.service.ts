import { sql } from 'kysely';
import type { Database } from '../db/database.ts';
import { DomainError } from '../errors.ts';
import { DATA_ACCESS_VALID_MINUTES, renderDataAccessEmail } from './data-access-email.ts';
import { collectPersonalData, type PersonalDataExport } from './personal-data.ts';
import { deleteSubscriber, findSubscriberById } from './subscriber.repository.ts';
import type { Subscriber } from './subscriber.table.ts';
import { addSuppression, suppressionHash } from './suppression.repository.ts';
import { CONFIRMATION_TOKEN_SHAPE, generateConfirmationToken, hashToken, type VerificationSecrets } from './tokens.ts';
import { subscriberForPreferences } from './mail-links.service.ts';
import type { ConfirmationMailDeps, SubscriptionJobs } from './subscription.service.ts';

/* A person's own data: a short-lived link mailed on request, then export or erasure through it. */

/**
 * "Email me a link to download or erase my data", from the preferences page. The long-lived
 * preferences link itself sits in every digest, so it can only ask for a short-lived link to be
 * mailed to the address: only someone who reads that mailbox gets to export or erase.
 */
export async function requestDataAccessLink(
  deps: { db: Database } & Pick<SubscriptionJobs, 'enqueueDataAccess'>,
  secrets: VerificationSecrets,
  token: string,
): Promise<void> {
  const subscriber = await subscriberForPreferences(deps.db, secrets, token);
  await deps.enqueueDataAccess(subscriber.id);
}

/** At most one data link per person per this window, however often it is asked for. */
export const DATA_ACCESS_RESEND_WINDOW_MS = 2 * 60 * 1000;

/** Worker side: a fresh 256-bit token (only its hash stored), valid for an hour, mailed to the address. */
export async function sendDataAccessEmail(deps: ConfirmationMailDeps, subscriberId: number): Promise<'sent' | 'not_needed' | 'recently_sent'> {
  const subscriber = await findSubscriberById(deps.db, subscriberId);
  if (!subscriber) return 'not_needed';
  const recent = await deps.db
    .selectFrom('data_access_tokens')
    .select('id')
    .where('subscriber_id', '=', subscriberId)
    .where('created_at', '>', sql<Date>`now() - make_interval(secs => ${DATA_ACCESS_RESEND_WINDOW_MS / 1000})`)
    .executeTakeFirst();
  if (recent) return 'recently_sent';
  const token = generateConfirmationToken();
  const tokenHash = hashToken(token);
  await deps.db
    .insertInto('data_access_tokens')
    .values({ subscriber_id: subscriberId, token_hash: tokenHash, expires_at: new Date(Date.now() + DATA_ACCESS_VALID_MINUTES * 60_000) })
    .execute();
  const email = await renderDataAccessEmail(`${deps.publicUrl}/data/${token}`);
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
    await deps.db.deleteFrom('data_access_tokens').where('token_hash', '=', tokenHash).execute();
    throw error;
  }
  return 'sent';
}

/** The subscriber behind a live data link. */
async function subscriberFromDataToken(db: Database, token: string): Promise<Subscriber> {
  const row = CONFIRMATION_TOKEN_SHAPE.test(token)
    ? await db.selectFrom('data_access_tokens').select(['subscriber_id', 'expires_at']).where('token_hash', '=', hashToken(token)).executeTakeFirst()
    : undefined;
  if (!row) throw new DomainError('invalid_token', 'This link is not valid. Ask for a new one on your preferences page.');
  if (row.expires_at.getTime() <= Date.now()) throw new DomainError('expired_token', 'This link has expired. Ask for a new one on your preferences page.');
  const subscriber = await findSubscriberById(db, row.subscriber_id);
  if (!subscriber) throw new DomainError('invalid_token', 'This link is not valid.');
  return subscriber;
}

/** For the data page: whose data the link opens; changes nothing. */
export async function inspectDataAccessToken(db: Database, token: string): Promise<{ email: string }> {
  const subscriber = await subscriberFromDataToken(db, token);
  return { email: subscriber.email };
}

/** The person's own data, as JSON, through a fresh data link. */
export async function exportPersonalData(db: Database, token: string): Promise<PersonalDataExport> {
  return collectPersonalData(db, await subscriberFromDataToken(db, token));
}

/**
 * Erases the person (through a fresh data link): the row and everything hanging off it go; only
 * a hash of the address stays on the suppression list, so the address comes back only through a
 * new, confirmed opt-in. Addresses are unique case-insensitively, so this is the one person.
 */
export async function erasePersonalData(db: Database, token: string): Promise<'erased'> {
  await eraseSubscriber(db, await subscriberFromDataToken(db, token));
  return 'erased';
}

/** The erasure itself, for the person's own data link and for an operator (the admin console). */
export async function eraseSubscriber(db: Database, subscriber: Pick<Subscriber, 'id' | 'email'>): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await addSuppression(trx, suppressionHash(subscriber.email), 'erased');
    await deleteSubscriber(trx, subscriber.id);
  });
}
