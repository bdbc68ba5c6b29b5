import { sql } from 'kysely';
import type { Transaction } from 'kysely';
import type { DB } from '../db/schema.ts';
import { recordSoftBounces } from '../delivery/delivery.repository.ts';
import type { SmtpFailure } from '../delivery/smtp-errors.ts';
import { markSubscribersBounced } from '../subscribers/subscriber.repository.ts';
import {
  applyEvent,
  decodeReport,
  planBounce,
  processReport,
  softBounceOutcome,
  unchangedOutcome,
  unlinkedResult,
  type BouncePlan,
  type Decoded,
  type LinkedDelivery,
  type ProcessResult,
  type ReportDeps,
} from './process-report.ts';

/**
 * Processes up to `limit` pending reports with an id above `afterId` in one transaction, with a
 * fixed number of statements for the whole batch rather than a handful per report: claim them,
 * lock their deliveries, mark the deliveries, count soft bounces, suppress people, record the
 * outcomes. A bounce is the common case (a relay sends thousands after a bad list); it goes the
 * set-based way when its person has no other report in the batch. Complaints, unsubscribes and
 * a person with several reports in one batch take the one-by-one path of process-report.ts, in id
 * order and inside the same transaction, so the result is what processing them in turn gives.
 *
 * The batch commits as a whole: a process killed half-way leaves every report of it pending for
 * the next sweep. If the batch fails (a bug, not a bad message: those are outcomes), its reports
 * are retried one by one, each in its own transaction, so one bad report cannot hold up the rest.
 * Returns the ids claimed (empty when nothing was pending).
 */
export async function processReportBatch(deps: ReportDeps, limit: number, afterId: number): Promise<number[]> {
  let claimed: number[] = [];
  try {
    await deps.db.transaction().execute(async (trx) => {
      const reports = await trx
        .selectFrom('inbound_reports')
        .selectAll()
        .where('processed_at', 'is', null)
        .where('id', '>', afterId)
        .orderBy('id')
        .limit(limit)
        .forUpdate()
        .skipLocked()
        .execute();
      claimed = reports.map((r) => Number(r.id));
      if (reports.length === 0) return;
      const decoded: Decoded[] = [];
      for (const report of reports) decoded.push(await decodeReport(deps, report, trx));
      const results = await applyBatch(trx, deps, decoded);
      await sql`
        update inbound_reports r set processed_at = now(), kind = u.kind, outcome = u.outcome, delivery_id = u.delivery_id, attempts = r.attempts + 1
        from unnest(${claimed}::bigint[], ${results.map((r) => r.kind)}::text[], ${results.map((r) => r.outcome.slice(0, 1000))}::text[], ${results.map((r) => r.deliveryId)}::bigint[])
          as u(id, kind, outcome, delivery_id)
        where r.id = u.id`.execute(trx);
      for (const [i, report] of reports.entries()) {
        const result = results[i]!;
        deps.log.info({ reportId: claimed[i], source: report.source, deliveryId: result.deliveryId, kind: result.kind, outcome: result.outcome }, 'inbound report processed');
      }
    });
  } catch (error) {
    deps.log.warn({ err: error, reports: claimed.length }, 'inbound: a batch of reports failed, processing them one by one');
    for (const id of claimed) await processReport(deps, id);
  }
  return claimed;
}

interface Bulk {
  index: number;
  delivery: LinkedDelivery;
  failure: SmtpFailure;
  plan: BouncePlan;
}

async function applyBatch(trx: Transaction<DB>, deps: ReportDeps, decoded: readonly Decoded[]): Promise<ProcessResult[]> {
  const ids = [...new Set(decoded.flatMap((d) => (d.deliveryId === null ? [] : [d.deliveryId])))].sort((a, b) => a - b);
  // Locked in id order, as every batch does, so two processors cannot deadlock on them.
  const rows = ids.length
    ? ((await trx.selectFrom('deliveries').select(['id', 'subscriber_id', 'edition_id', 'status']).where('id', 'in', ids).orderBy('id').forUpdate().execute()) as LinkedDelivery[])
    : [];
  const deliveries = new Map(rows.map((row) => [Number(row.id), { ...row, id: Number(row.id), subscriber_id: Number(row.subscriber_id), edition_id: Number(row.edition_id) }]));

  const results: (ProcessResult | undefined)[] = [];
  const perPerson = new Map<number, number>();
  for (const d of decoded) {
    const delivery = d.deliveryId === null ? undefined : deliveries.get(d.deliveryId);
    if (delivery && d.event.kind !== 'ignored') perPerson.set(delivery.subscriber_id, (perPerson.get(delivery.subscriber_id) ?? 0) + 1);
  }
  const bulk: Bulk[] = [];
  const oneByOne: number[] = [];
  for (const [index, d] of decoded.entries()) {
    const { event } = d;
    const delivery = d.deliveryId === null ? undefined : deliveries.get(d.deliveryId);
    if (event.kind === 'ignored') {
      results[index] = { kind: 'ignored', outcome: event.why, deliveryId: delivery ? delivery.id : null };
    } else if (!delivery) {
      results[index] = unlinkedResult(event.kind === 'bounce' ? event.failure.kind : event.kind, d.deliveryId);
    } else if (event.kind === 'bounce' && perPerson.get(delivery.subscriber_id) === 1) {
      bulk.push({ index, delivery, failure: event.failure, plan: planBounce(event.failure) });
    } else {
      oneByOne.push(index);
    }
  }

  if (bulk.length > 0) {
    const changed = await markDeliveries(trx, bulk);
    const counted = bulk.filter((b) => changed.has(b.delivery.id) && b.plan.effect === 'count');
    const soft = await recordSoftBounces(
      trx,
      counted.map((b) => ({ subscriberId: b.delivery.subscriber_id, editionId: b.delivery.edition_id, response: b.failure.response })),
      { limit: deps.softBounceLimit, minDays: deps.softBounceDays },
    );
    const suppressed = bulk.filter((b) => changed.has(b.delivery.id) && (b.plan.effect === 'suppress' || (b.plan.effect === 'count' && soft.get(b.delivery.subscriber_id)?.suppress)));
    await markSubscribersBounced(
      trx,
      suppressed.map((b) => b.delivery.subscriber_id),
    );
    for (const b of bulk) {
      const counts = soft.get(b.delivery.subscriber_id);
      const outcome = !changed.has(b.delivery.id) ? unchangedOutcome(b.delivery.status) : b.plan.effect === 'count' && counts ? softBounceOutcome(counts.consecutive, counts.suppress) : b.plan.outcome;
      results[b.index] = { kind: b.failure.kind, outcome, deliveryId: b.delivery.id };
    }
  }
  for (const index of oneByOne) results[index] = await applyEvent(trx, deps, decoded[index]!);
  return results.map((r) => r!);
}

/** Only a delivery that went out can bounce later (as markDelivery in process-report.ts); returns the ids changed. */
async function markDeliveries(trx: Transaction<DB>, bulk: readonly Bulk[]): Promise<Set<number>> {
  const { rows } = await sql<{ id: string }>`
    update deliveries d set status = u.status, reason = u.reason, smtp_response = u.response, enhanced_code = u.code, updated_at = now()
    from unnest(
      ${bulk.map((b) => b.delivery.id)}::bigint[], ${bulk.map((b) => b.plan.status)}::text[], ${bulk.map((b) => b.plan.reason)}::text[],
      ${bulk.map((b) => b.failure.response)}::text[], ${bulk.map((b) => b.failure.enhancedCode ?? null)}::text[]
    ) as u(id, status, reason, response, code)
    where d.id = u.id and d.status in ('sent', 'unknown')
    returning d.id`.execute(trx);
  return new Set(rows.map((r) => Number(r.id)));
}
