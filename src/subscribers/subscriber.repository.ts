import { sql } from 'kysely';
import type { Executor } from '../db/database.ts';
import type { Selectable } from 'kysely';
import type { ConsentEventKind, SignupRequestsTable, Subscriber, SubscriberStatus } from './subscriber.table.ts';

export async function findSubscriberById(db: Executor, id: number): Promise<Subscriber | undefined> {
  return db.selectFrom('subscribers').selectAll().where('id', '=', id).executeTakeFirst();
}

export interface SignupRequest {
  kind: 'subscribed' | 'resubscribed';
  email: string;
  topics: string[];
  timeZone: string;
  ip: string | null;
  userAgent: string | null;
  source: string;
}

/** Unconfirmed requests older than this go (a confirmation link lives 72 hours). */
const SIGNUP_REQUEST_KEEP = '4 days';
/** At most this many unconfirmed requests are kept per person: a flood only replaces the oldest. */
const SIGNUP_REQUESTS_PER_SUBSCRIBER = 20;

/**
 * Records a sign-up in one statement, whatever the address's state, so the request path (and its
 * timing) is the same for new, pending, active, unsubscribed, bounced and erased addresses. A new
 * address gets a pending row; an existing person is not changed at all: the request waits in
 * signup_requests until a confirmation link carrying it is used (a stranger who types someone's
 * address can change nothing about them). Addresses match case-insensitively.
 */
export async function recordSignupRequest(db: Executor, request: SignupRequest): Promise<number> {
  const { rows } = await sql<{ subscriber_id: number }>`
    with person as (
      -- A new address starts pending with what was asked for; an existing row stays as it is.
      insert into subscribers (email, status, topics, time_zone) values (${request.email}, 'pending', ${request.topics}::text[], ${request.timeZone})
      on conflict ((lower(email))) do update set email = subscribers.email
      returning id
    ), pruned as (
      delete from signup_requests r using person
      where r.subscriber_id = person.id
        and (r.created_at < now() - ${SIGNUP_REQUEST_KEEP}::interval
             or r.id <= (select id from signup_requests o where o.subscriber_id = person.id order by id desc offset ${SIGNUP_REQUESTS_PER_SUBSCRIBER - 1} limit 1))
    )
    insert into signup_requests (subscriber_id, kind, email, topics, time_zone, ip, user_agent, source)
    select id, ${request.kind}, ${request.email}, ${request.topics}::text[], ${request.timeZone}, ${request.ip}, ${request.userAgent}, ${request.source} from person
    returning subscriber_id`.execute(db);
  return Number(rows[0]!.subscriber_id);
}

/** A request for a person who already exists (the resubscribe button): their own data, a new opt-in. */
export async function addSignupRequest(db: Executor, subscriberId: number, request: SignupRequest): Promise<void> {
  await db
    .insertInto('signup_requests')
    .values({
      subscriber_id: subscriberId,
      kind: request.kind,
      email: request.email,
      topics: request.topics,
      time_zone: request.timeZone,
      ip: request.ip,
      user_agent: request.userAgent,
      source: request.source,
    })
    .execute();
}

export async function findLatestSignupRequest(db: Executor, subscriberId: number) {
  return db.selectFrom('signup_requests').selectAll().where('subscriber_id', '=', subscriberId).orderBy('id', 'desc').limit(1).executeTakeFirst();
}

export async function findSignupRequest(db: Executor, id: number) {
  return db.selectFrom('signup_requests').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function appendConsentEvent(
  db: Executor,
  subscriberId: number,
  event: { kind: ConsentEventKind; at?: Date; ip?: string | null; userAgent?: string | null; source?: string | null },
): Promise<void> {
  await db
    .insertInto('consent_events')
    .values({
      subscriber_id: subscriberId,
      kind: event.kind,
      ...(event.at ? { occurred_at: event.at } : {}),
      ip: event.ip ?? null,
      user_agent: event.userAgent ?? null,
      source: event.source ?? null,
    })
    .execute();
}

/** Erasure: the row goes, and with it (cascade) tokens, ledger rows and sent papers. */
export async function deleteSubscriber(db: Executor, id: number): Promise<boolean> {
  const result = await db.deleteFrom('subscribers').where('id', '=', id).executeTakeFirst();
  return result.numDeletedRows > 0n;
}

/** Revokes every link issued so far (unsubscribe and preferences tokens carry the version). */
export async function bumpTokenVersion(db: Executor, id: number): Promise<number | undefined> {
  const row = await db
    .updateTable('subscribers')
    .set({ token_version: sql`token_version + 1`, updated_at: sql`now()` })
    .where('id', '=', id)
    .returning('token_version')
    .executeTakeFirst();
  return row?.token_version;
}

/**
 * A confirmed opt-in: the person becomes active, with the details of the request the link
 * carried (the spelling typed, topics, time zone), if any; the consent history gets the request
 * and the confirmation; the person's other unconfirmed requests are void.
 */
export async function activateSubscriber(
  trx: Executor,
  id: number,
  request: Selectable<SignupRequestsTable> | undefined,
  confirmation: { ip: string; userAgent: string | null },
): Promise<void> {
  await trx
    .updateTable('subscribers')
    .set({
      status: 'active',
      confirmed_at: sql`now()`,
      unsubscribed_at: null,
      unsubscribe_source: null,
      ...(request ? { email: request.email, topics: request.topics, time_zone: request.time_zone } : {}),
      updated_at: sql`now()`,
    })
    .where('id', '=', id)
    .execute();
  if (request) {
    await appendConsentEvent(trx, id, { kind: request.kind, at: request.created_at, ip: request.ip, userAgent: request.user_agent, source: request.source });
  }
  await appendConsentEvent(trx, id, { kind: 'confirmed', ip: confirmation.ip, userAgent: confirmation.userAgent, source: 'confirmation link' });
  await trx.deleteFrom('signup_requests').where('subscriber_id', '=', id).execute();
}

/** Moves an active or pending subscriber to unsubscribed (and says so in the consent history); returns whether this call changed it. */
export async function markUnsubscribed(db: Executor, id: number, source: string, request: { ip: string | null; userAgent: string | null }): Promise<boolean> {
  const { rows } = await sql<{ id: number }>`
    with changed as (
      update subscribers set status = 'unsubscribed', unsubscribed_at = now(), unsubscribe_source = ${source}, updated_at = now()
      where id = ${id} and status in ('active', 'pending')
      returning id
    )
    insert into consent_events (subscriber_id, kind, ip, user_agent, source)
    select id, 'unsubscribed', ${request.ip}, ${request.userAgent}, ${source} from changed
    returning subscriber_id as id`.execute(db);
  return rows.length > 0;
}

export async function countSubscribersByStatus(db: Executor): Promise<Record<SubscriberStatus, number>> {
  const rows = await db
    .selectFrom('subscribers')
    .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
    .groupBy('status')
    .execute();
  const counts: Record<SubscriberStatus, number> = { pending: 0, active: 0, unsubscribed: 0, bounced: 0, complained: 0 };
  for (const row of rows) counts[row.status] = Number(row.n);
  return counts;
}

/** A hard bounce suppresses the address: it receives nothing until it opts in again. */
export async function markSubscriberBounced(db: Executor, id: number): Promise<void> {
  await sql`
    with changed as (
      update subscribers set status = 'bounced', bounce_count = bounce_count + 1, last_bounce_at = now(), updated_at = now()
      where id = ${id}
      returning id, (select status from subscribers where id = ${id}) as previous
    )
    insert into consent_events (subscriber_id, kind, source)
    select id, 'bounced', 'hard bounce' from changed where previous <> 'bounced'`.execute(db);
}

/** markSubscriberBounced for many people in one statement (inbound reports in batches); ids must be distinct. */
export async function markSubscribersBounced(db: Executor, ids: readonly number[]): Promise<void> {
  if (ids.length === 0) return;
  await sql`
    with previous as (select id, status from subscribers where id = any(${ids}::bigint[]) for update),
    changed as (
      update subscribers s set status = 'bounced', bounce_count = s.bounce_count + 1, last_bounce_at = now(), updated_at = now()
      from previous where s.id = previous.id
      returning s.id, previous.status as previous
    )
    insert into consent_events (subscriber_id, kind, source)
    select id, 'bounced', 'hard bounce' from changed where previous <> 'bounced'`.execute(db);
}
