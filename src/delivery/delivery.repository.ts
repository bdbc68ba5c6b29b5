import { sql } from 'kysely';
import type { Executor } from '../db/database.ts';
import type { DeliveryStatus } from './delivery.table.ts';

export const deliveryStatuses: readonly DeliveryStatus[] = ['queued', 'sending', 'sent', 'failed', 'bounced', 'complained', 'skipped', 'unknown'];

/** Whether any row of the run is still queued or sending (an index probe, not a count). */
export async function hasUnfinishedDeliveries(db: Executor, runId: number): Promise<boolean> {
  const row = await db
    .selectFrom('deliveries')
    .select('id')
    .where('run_id', '=', runId)
    .where('status', 'in', ['queued', 'sending'])
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

export async function countDeliveries(db: Executor, runId: number): Promise<number> {
  const row = await db.selectFrom('deliveries').select((eb) => eb.fn.countAll<number>().as('n')).where('run_id', '=', runId).executeTakeFirstOrThrow();
  return Number(row.n);
}

/**
 * The send batches that still have queued rows, and how long until the first of them is due (a
 * row waiting out its backoff is not due before its retry_at). A batch is a fixed window of
 * ledger ids (id / batchSize), so whoever cuts batches, now or after a crash, cuts the same ones.
 */
export async function findQueuedBatchWindows(
  db: Executor,
  runId: number,
  batchSize: number,
  windows: { from?: number; through?: number } = {},
): Promise<{ window: number; delayMs: number }[]> {
  const fromId = (windows.from ?? 0) * batchSize;
  const throughId = windows.through === undefined ? Number.MAX_SAFE_INTEGER : (windows.through + 1) * batchSize - 1;
  const result = await sql<{ w: number; delay_ms: number }>`
    select id / ${batchSize}::bigint as w,
      greatest(0, extract(epoch from min(coalesce(retry_at, now())) - now()) * 1000)::float8 as delay_ms
    from deliveries
    where run_id = ${runId} and status = 'queued' and id between ${fromId} and ${throughId}
    group by w
    order by w`.execute(db);
  return result.rows.map((r) => ({ window: Number(r.w), delayMs: Math.ceil(Number(r.delay_ms)) }));
}

/**
 * Milliseconds until the earliest queued row of a window is due (0: now), by the database's
 * clock, which is the one claims compare with; undefined when nothing of it is queued.
 */
export async function findNextDueInWindow(db: Executor, window: { runId: number; fromId: number; toId: number }): Promise<number | undefined> {
  const result = await sql<{ delay_ms: number | null }>`
    select greatest(0, extract(epoch from min(coalesce(retry_at, now())) - now()) * 1000)::float8 as delay_ms
    from deliveries
    where run_id = ${window.runId} and id between ${window.fromId} and ${window.toId} and status = 'queued'`.execute(db);
  const delay = result.rows[0]?.delay_ms;
  return delay === null || delay === undefined ? undefined : Math.ceil(Number(delay));
}

export interface ClaimedDelivery {
  id: number;
  subscriberId: number;
  attempts: number;
  email: string;
  subscriberStatus: string;
  tokenVersion: number;
  /** Transient failures before this claim, and since when (retry.ts). */
  retries: number;
  failingSince: Date | null;
  /** The variant to send (null: the edition's own content). */
  variantId: number | null;
}

/**
 * Moves up to `limit` queued rows of a batch window to `sending`, stamped with the claiming
 * worker. SKIP LOCKED lets workers that got the same window split it, and the status guard makes
 * a second claim of a row impossible. Nothing is claimed unless the run is still sending, so
 * a pause takes effect at the next chunk, and no row before its retry_at (its backoff).
 */
export async function claimQueuedDeliveries(
  db: Executor,
  claim: { runId: number; fromId: number; toId: number; limit: number; workerId: string },
): Promise<ClaimedDelivery[]> {
  const result = await sql<{ id: number; subscriber_id: number; attempts: number; email: string; status: string; token_version: number; retries: number; failing_since: Date | null; variant_id: number | null }>`
    with claimable as (
      select d.id from deliveries d
      where d.run_id = ${claim.runId} and d.id between ${claim.fromId} and ${claim.toId} and d.status = 'queued'
        and (d.retry_at is null or d.retry_at <= now())
        -- A run still planning sends the windows planned so far (planner.ts).
        and exists (select 1 from send_runs r where r.id = ${claim.runId} and r.status in ('planning', 'sending'))
      order by d.id
      limit ${claim.limit}
      for update skip locked
    ), claimed as (
      update deliveries d
      set status = 'sending', attempts = d.attempts + 1, claimed_by = ${claim.workerId}, claimed_at = now(), updated_at = now()
      from claimable
      where d.id = claimable.id
      returning d.id, d.subscriber_id, d.attempts, d.retries, d.failing_since, d.variant_id
    )
    select claimed.id, claimed.subscriber_id, claimed.attempts, claimed.retries, claimed.failing_since, claimed.variant_id, s.email, s.status, s.token_version
    from claimed join subscribers s on s.id = claimed.subscriber_id
    order by claimed.id`.execute(db);
  return result.rows.map((r) => ({
    id: r.id,
    subscriberId: r.subscriber_id,
    attempts: r.attempts,
    email: r.email,
    subscriberStatus: r.status,
    tokenVersion: r.token_version,
    retries: r.retries,
    failingSince: r.failing_since,
    variantId: r.variant_id === null ? null : Number(r.variant_id),
  }));
}

export interface DeliveryOutcome {
  id: number;
  status: Exclude<DeliveryStatus, 'queued' | 'sending'>;
  messageId?: string;
  smtpResponse?: string;
  enhancedCode?: string;
  reason?: string;
}

/**
 * Records many outcomes in one statement. A row the crash sweep already called `unknown` while
 * this worker was in fact alive (a long pause) still gets its real outcome, but only from the
 * worker that claimed it. A delivered message resets the subscriber's soft-bounce run.
 */
export async function recordDeliveryOutcomes(db: Executor, workerId: string, outcomes: readonly DeliveryOutcome[]): Promise<number> {
  if (outcomes.length === 0) return 0;
  const col = <K extends keyof DeliveryOutcome>(key: K) => outcomes.map((o) => (o[key] === undefined ? null : String(o[key]).slice(0, 1000)));
  const result = await sql<{ n: number }>`
    with v as (
      select * from unnest(${outcomes.map((o) => o.id)}::bigint[], ${col('status')}::text[], ${col('messageId')}::text[],
        ${col('smtpResponse')}::text[], ${col('enhancedCode')}::text[], ${col('reason')}::text[])
        as v(id, status, message_id, smtp_response, enhanced_code, reason)
    ), recorded as (
      update deliveries d
      set status = v.status, message_id = coalesce(v.message_id, d.message_id), smtp_response = v.smtp_response,
          enhanced_code = v.enhanced_code, reason = v.reason, updated_at = now(),
          sent_at = case when v.status = 'sent' then now() else d.sent_at end
      from v
      where d.id = v.id and (d.status = 'sending' or (d.status = 'unknown' and d.claimed_by = ${workerId}))
      returning d.subscriber_id, v.status
    ), reset as (
      delete from soft_bounces where subscriber_id in (select subscriber_id from recorded where status = 'sent')
    )
    select count(*)::int as n from recorded`.execute(db);
  return result.rows[0]?.n ?? 0;
}

/**
 * A transient failure puts the row back to wait out its backoff: no claim takes it before
 * `retry_at`. A relay-wide failure (the connection could not be opened) gives its attempt back,
 * as it said nothing about this recipient.
 */
export async function deferDelivery(
  db: Executor,
  id: number,
  deferral: { delayMs: number; relayWide: boolean; smtpResponse: string; enhancedCode?: string | undefined; reason?: string },
): Promise<void> {
  await db
    .updateTable('deliveries')
    .set({
      status: 'queued',
      retry_at: sql`now() + make_interval(secs => ${deferral.delayMs / 1000})`,
      retries: sql`retries + 1`,
      failing_since: sql`coalesce(failing_since, now())`,
      ...(deferral.relayWide ? { attempts: sql`greatest(attempts - 1, 0)` } : {}),
      smtp_response: deferral.smtpResponse.slice(0, 1000),
      enhanced_code: deferral.enhancedCode ?? null,
      reason: deferral.reason ?? (deferral.relayWide ? 'the relay could not be reached or refused the connection; will retry' : 'transient failure, will retry'),
      updated_at: sql`now()`,
    })
    .where('id', '=', id)
    .where('status', '=', 'sending')
    .execute();
}

/**
 * The relay refused the connection: every queued row of the window waits at least as long, so
 * the batch backs off as a whole instead of each row finding the relay down in turn.
 */
export async function deferBatchWindow(db: Executor, window: { runId: number; fromId: number; toId: number; delayMs: number }): Promise<void> {
  await sql`
    update deliveries
    set retry_at = greatest(coalesce(retry_at, now()), now() + make_interval(secs => ${window.delayMs / 1000}))
    where run_id = ${window.runId} and id between ${window.fromId} and ${window.toId} and status = 'queued'`.execute(db);
}

/** Gives a claimed row back untouched (it was never tried), e.g. because its run paused. */
export async function releaseDelivery(db: Executor, id: number): Promise<void> {
  await db
    .updateTable('deliveries')
    .set({ status: 'queued', attempts: sql`greatest(attempts - 1, 0)`, updated_at: sql`now()` })
    .where('id', '=', id)
    .where('status', '=', 'sending')
    .execute();
}

/**
 * Rows left `sending` by a worker that stopped beating: the SMTP server may have accepted the
 * message before the worker died, so they become `unknown` and are never re-sent automatically.
 */
export async function markAbandonedDeliveriesUnknown(db: Executor, leaseMs: number, staleClaimMs = Number.POSITIVE_INFINITY): Promise<{ runId: number; n: number }[]> {
  // A claim older than any send can take (SMTP deadlines bound it) was lost by a live worker:
  // e.g. its connection died after the claim committed and before the rows reached it.
  const stale = Number.isFinite(staleClaimMs) ? staleClaimMs / 1000 : 1e9;
  const result = await sql<{ run_id: number; n: number }>`
    with abandoned as (
      update deliveries d
      set status = 'unknown', updated_at = now(),
          reason = 'the worker stopped while sending, or never recorded the outcome; the SMTP server may or may not have accepted it'
      where d.status = 'sending'
        and (d.claimed_at < now() - make_interval(secs => ${stale}) or not exists (
          select 1 from delivery_workers w
          where w.id = d.claimed_by and w.heartbeat_at > now() - make_interval(secs => ${leaseMs / 1000})
        ))
      returning d.run_id
    )
    select run_id, count(*)::int as n from abandoned group by run_id`.execute(db);
  return result.rows.map((r) => ({ runId: r.run_id, n: r.n }));
}

export async function countDeliveriesByStatus(db: Executor, runId: number): Promise<Record<DeliveryStatus, number>> {
  const rows = await db
    .selectFrom('deliveries')
    .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
    .where('run_id', '=', runId)
    .groupBy('status')
    .execute();
  const counts = Object.fromEntries(deliveryStatuses.map((s) => [s, 0])) as Record<DeliveryStatus, number>;
  for (const row of rows) counts[row.status] = Number(row.n);
  return counts;
}

/** First and last accepted message of a run, for its send rate. */
export async function findSendWindow(db: Executor, runId: number): Promise<{ first: Date | null; last: Date | null }> {
  const row = await db
    .selectFrom('deliveries')
    .select((eb) => [eb.fn.min('sent_at').as('first'), eb.fn.max('sent_at').as('last')])
    .where('run_id', '=', runId)
    .where('status', '=', 'sent')
    .executeTakeFirst();
  return { first: (row?.first as Date | null) ?? null, last: (row?.last as Date | null) ?? null };
}

/**
 * Counts a soft bounce (once per edition) and says whether the run of them is now long enough,
 * and old enough, to suppress the address: several bad editions over days, not one bad day.
 */
export async function recordSoftBounce(
  db: Executor,
  bounce: { subscriberId: number; editionId: number; response: string; limit: number; minDays: number },
): Promise<{ consecutive: number; suppress: boolean }> {
  const result = await sql<{ consecutive: number; first_at: Date; old_enough: boolean }>`
    insert into soft_bounces (subscriber_id, consecutive, first_at, last_at, last_edition_id, last_response)
    values (${bounce.subscriberId}, 1, now(), now(), ${bounce.editionId}, ${bounce.response.slice(0, 1000)})
    on conflict (subscriber_id) do update set
      consecutive = soft_bounces.consecutive + case when soft_bounces.last_edition_id = excluded.last_edition_id then 0 else 1 end,
      last_at = now(), last_edition_id = excluded.last_edition_id, last_response = excluded.last_response
    returning consecutive, first_at, first_at <= now() - make_interval(days => 0, secs => ${bounce.minDays * 86400}) as old_enough`.execute(db);
  const row = result.rows[0]!;
  return { consecutive: row.consecutive, suppress: row.consecutive >= bounce.limit && row.old_enough };
}

/** recordSoftBounce for many people in one statement (inbound reports in batches); subscribers must be distinct. */
export async function recordSoftBounces(
  db: Executor,
  bounces: readonly { subscriberId: number; editionId: number; response: string }[],
  policy: { limit: number; minDays: number },
): Promise<Map<number, { consecutive: number; suppress: boolean }>> {
  if (bounces.length === 0) return new Map();
  const result = await sql<{ subscriber_id: string; consecutive: number; old_enough: boolean }>`
    insert into soft_bounces (subscriber_id, consecutive, first_at, last_at, last_edition_id, last_response)
    select u.subscriber_id, 1, now(), now(), u.edition_id, u.response
    from unnest(${bounces.map((b) => b.subscriberId)}::bigint[], ${bounces.map((b) => b.editionId)}::bigint[], ${bounces.map((b) => b.response.slice(0, 1000))}::text[]) as u(subscriber_id, edition_id, response)
    on conflict (subscriber_id) do update set
      consecutive = soft_bounces.consecutive + case when soft_bounces.last_edition_id = excluded.last_edition_id then 0 else 1 end,
      last_at = now(), last_edition_id = excluded.last_edition_id, last_response = excluded.last_response
    returning subscriber_id, consecutive, first_at <= now() - make_interval(days => 0, secs => ${policy.minDays * 86400}) as old_enough`.execute(db);
  return new Map(result.rows.map((row) => [Number(row.subscriber_id), { consecutive: row.consecutive, suppress: row.consecutive >= policy.limit && row.old_enough }]));
}

export async function registerDeliveryWorker(db: Executor, worker: { id: string; host: string; pid: number }): Promise<void> {
  await db
    .insertInto('delivery_workers')
    .values({ id: worker.id, host: worker.host, pid: worker.pid })
    .onConflict((oc) => oc.column('id').doUpdateSet({ heartbeat_at: sql`now()` }))
    .execute();
}

export async function beatDeliveryWorker(db: Executor, id: string): Promise<void> {
  await db.updateTable('delivery_workers').set({ heartbeat_at: sql`now()` }).where('id', '=', id).execute();
}

export async function removeDeliveryWorker(db: Executor, id: string): Promise<void> {
  await db.deleteFrom('delivery_workers').where('id', '=', id).execute();
}

/** Forgets workers silent for a day; their rows were swept long before. */
export async function pruneDeliveryWorkers(db: Executor): Promise<void> {
  await db.deleteFrom('delivery_workers').where('heartbeat_at', '<', sql<Date>`now() - interval '1 day'`).execute();
}
