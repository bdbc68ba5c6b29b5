import { sql } from 'kysely';
import type { Database, Executor } from '../db/database.ts';
import { recordSoftBounce } from '../delivery/delivery.repository.ts';
import type { SmtpFailure } from '../delivery/smtp-errors.ts';
import { parseVerpAddress, type VerpSettings } from '../delivery/verp.ts';
import type { Logger } from '../logger.ts';
import { markSubscriberBounced, markUnsubscribed } from '../subscribers/subscriber.repository.ts';
import { addSuppression, suppressionHash } from '../subscribers/suppression.repository.ts';
import type { InboundReport } from './inbound-report.table.ts';
import { readReport } from './read-report.ts';

export interface ReportDeps {
  db: Database;
  log: Logger;
  /** Undefined without BOUNCE_DOMAIN (webhooks only): no mail report can be linked then. */
  verp: VerpSettings | undefined;
  softBounceLimit: number;
  softBounceDays: number;
  /** Webhook payloads (src/inbound/webhooks/) decode to the same events as mail. */
  decodeWebhook?: (report: InboundReport, db: Executor) => Promise<Decoded>;
}

/** What a report asks for, whatever it came by (mail or a relay's webhook). */
export type InboundEvent =
  | { kind: 'bounce'; failure: SmtpFailure }
  | { kind: 'complaint'; feedbackType: string }
  | { kind: 'unsubscribe' }
  | { kind: 'ignored'; why: string };

export interface Decoded {
  event: InboundEvent;
  deliveryId: number | null;
}

export interface ProcessResult {
  kind: string;
  outcome: string;
  deliveryId: number | null;
}

const MAX_ATTEMPTS = 5;

/**
 * Processes one stored report, once: the report is locked, its effects and its `processed_at`
 * are written in one transaction, so a process killed half-way leaves it unprocessed and the next
 * sweep does it again from the start (no effect is applied twice). A report that keeps failing
 * (a bug, not a bad message: those are outcomes) is given up after MAX_ATTEMPTS with the error.
 */
export async function processReport(deps: ReportDeps, id: number): Promise<ProcessResult | undefined> {
  try {
    return await deps.db.transaction().execute(async (trx) => {
      const report = await trx.selectFrom('inbound_reports').selectAll().where('id', '=', id).where('processed_at', 'is', null).forUpdate().skipLocked().executeTakeFirst();
      if (!report) return undefined;
      const decoded = await decodeReport(deps, report, trx);
      const result = await applyEvent(trx, deps, decoded);
      await trx
        .updateTable('inbound_reports')
        .set({ processed_at: sql`now()`, kind: result.kind, outcome: result.outcome.slice(0, 1000), delivery_id: result.deliveryId, attempts: sql`attempts + 1` })
        .where('id', '=', id)
        .execute();
      deps.log.info({ reportId: id, source: report.source, deliveryId: result.deliveryId, kind: result.kind, outcome: result.outcome }, 'inbound report processed');
      return result;
    });
  } catch (error) {
    deps.log.error({ err: error, reportId: id }, 'inbound report failed to process');
    await deps.db
      .updateTable('inbound_reports')
      .set({
        attempts: sql`attempts + 1`,
        processed_at: sql`case when attempts + 1 >= ${MAX_ATTEMPTS} then now() else null end`,
        kind: sql`case when attempts + 1 >= ${MAX_ATTEMPTS} then 'error' else kind end`,
        outcome: `error: ${String((error as Error).message ?? error).slice(0, 500)}`,
      })
      .where('id', '=', id)
      .where('processed_at', 'is', null)
      .execute();
    return undefined;
  }
}

export async function decodeReport(deps: ReportDeps, report: InboundReport, trx: Executor): Promise<Decoded> {
  return report.source === 'smtp' ? decodeMail(deps, report) : deps.decodeWebhook ? await deps.decodeWebhook(report, trx) : ignored('no decoder for this source');
}

const ignored = (why: string, deliveryId: number | null = null): Decoded => ({ event: { kind: 'ignored', why }, deliveryId });

/**
 * A mail report. The delivery comes from the signed address it was sent to, or, for the plain
 * feedback-loop address (where providers send ARF reports), from the signed return path inside
 * the enclosed original. A Message-ID is never trusted here: anyone can send mail.
 */
function decodeMail(deps: ReportDeps, report: InboundReport): Decoded {
  if (!report.raw) return ignored('raw message purged before processing');
  if (report.purpose === 'unsubscribe') {
    return report.delivery_id === null ? ignored('mailto: unsubscribe for a delivery that no longer exists (erased)') : { event: { kind: 'unsubscribe' }, deliveryId: report.delivery_id };
  }
  const reading = readReport(report.raw);
  let deliveryId = report.purpose === 'bounce' ? report.delivery_id : null;
  if (report.purpose === 'feedback' && deps.verp) {
    for (const address of reading.original.returnPaths) {
      const parsed = parseVerpAddress(deps.verp, address);
      if (parsed.ok && parsed.purpose === 'bounce') {
        deliveryId = parsed.deliveryId;
        break;
      }
    }
  }
  switch (reading.type) {
    case 'bounce':
      if (reading.action !== 'failed' || !reading.failure) return ignored(`delivery status notification with action ${reading.action}`, deliveryId);
      return { event: { kind: 'bounce', failure: reading.failure }, deliveryId };
    case 'complaint':
      return { event: { kind: 'complaint', feedbackType: reading.feedbackType }, deliveryId };
    case 'other':
      return ignored('neither a delivery status notification nor a complaint (an auto-reply?)', deliveryId);
  }
}

export interface LinkedDelivery {
  id: number;
  subscriber_id: number;
  edition_id: number;
  status: string;
}

export async function applyEvent(trx: Executor, deps: ReportDeps, decoded: Decoded): Promise<ProcessResult> {
  const { event } = decoded;
  if (event.kind === 'ignored') return { kind: 'ignored', outcome: event.why, deliveryId: decoded.deliveryId };
  const delivery =
    decoded.deliveryId === null
      ? undefined
      : ((await trx.selectFrom('deliveries').select(['id', 'subscriber_id', 'edition_id', 'status']).where('id', '=', decoded.deliveryId).forUpdate().executeTakeFirst()) as LinkedDelivery | undefined);
  const kind = event.kind === 'bounce' ? event.failure.kind : event.kind;
  if (!delivery) return unlinkedResult(kind, decoded.deliveryId);
  const result = (outcome: string): ProcessResult => ({ kind, outcome, deliveryId: delivery.id });
  switch (event.kind) {
    case 'unsubscribe': {
      const changed = await markUnsubscribed(trx, delivery.subscriber_id, 'mailto', { ip: null, userAgent: null });
      return result(changed ? 'unsubscribed' : 'was not subscribed: nothing changed');
    }
    case 'complaint':
      return result(await applyComplaint(trx, delivery, event.feedbackType));
    case 'bounce':
      return result(await applyBounce(trx, deps, delivery, event.failure));
  }
}

export const unlinkedResult = (kind: string, deliveryId: number | null): ProcessResult => ({
  kind,
  outcome: deliveryId === null ? 'not linked to any delivery: nothing changed' : 'the delivery no longer exists (its person was erased): nothing changed',
  deliveryId: null,
});

/** Only a delivery that went out can bounce later; a second report of the same one changes nothing. */
async function markDelivery(trx: Executor, delivery: LinkedDelivery, status: 'bounced' | 'failed' | 'complained', reason: string, failure?: SmtpFailure): Promise<boolean> {
  const from = status === 'complained' ? ['sent', 'unknown', 'failed', 'bounced'] : ['sent', 'unknown'];
  const changed = await trx
    .updateTable('deliveries')
    .set({ status, reason, updated_at: sql`now()`, ...(failure ? { smtp_response: failure.response, enhanced_code: failure.enhancedCode ?? null } : {}) })
    .where('id', '=', delivery.id)
    .where('status', 'in', from as never)
    .executeTakeFirst();
  return changed.numUpdatedRows > 0n;
}

/** What a later bounce does to its delivery and person (shared with the batch path, process-batch.ts). */
export interface BouncePlan {
  status: 'bounced' | 'failed';
  reason: string;
  /** suppress: the person is bounced; count: a soft bounce toward SOFT_BOUNCE_LIMIT; none: the person is kept. */
  effect: 'suppress' | 'count' | 'none';
  outcome: string;
}

export function planBounce(failure: SmtpFailure): BouncePlan {
  const code = failure.enhancedCode ?? failure.responseCode ?? '';
  switch (failure.kind) {
    case 'hard_bounce':
      return { status: 'bounced', reason: `hard bounce ${code} (reported later): address suppressed`, effect: 'suppress', outcome: 'delivery bounced, subscriber suppressed' };
    case 'soft_bounce':
    case 'transient':
      // Like a 4xx that never cleared (failure-policy.ts): counted only when it is about the mailbox.
      return {
        status: 'failed',
        reason: `${failure.kind === 'soft_bounce' ? 'soft bounce' : 'gave up after retries'} ${code} (reported later)`,
        effect: failure.kind === 'transient' && !failure.softIfFinal ? 'none' : 'count',
        outcome: 'delivery failed',
      };
    case 'policy':
    case 'permanent':
    case 'maybe_delivered':
      return { status: 'failed', reason: `${failure.kind} failure ${code} (reported later): recipient kept`, effect: 'none', outcome: 'delivery failed, recipient kept' };
  }
}

export const softBounceOutcome = (consecutive: number, suppress: boolean) =>
  suppress ? `delivery failed; soft bounce ${consecutive}: subscriber suppressed` : `delivery failed; soft bounce ${consecutive} counted`;
export const unchangedOutcome = (status: string) => `delivery already ${status}: nothing changed`;

async function applyBounce(trx: Executor, deps: ReportDeps, delivery: LinkedDelivery, failure: SmtpFailure): Promise<string> {
  const plan = planBounce(failure);
  if (!(await markDelivery(trx, delivery, plan.status, plan.reason, failure))) return unchangedOutcome(delivery.status);
  if (plan.effect === 'suppress') await markSubscriberBounced(trx, delivery.subscriber_id);
  if (plan.effect !== 'count') return plan.outcome;
  const { consecutive, suppress } = await recordSoftBounce(trx, {
    subscriberId: delivery.subscriber_id,
    editionId: delivery.edition_id,
    response: failure.response,
    limit: deps.softBounceLimit,
    minDays: deps.softBounceDays,
  });
  if (suppress) await markSubscriberBounced(trx, delivery.subscriber_id);
  return softBounceOutcome(consecutive, suppress);
}

/**
 * A complaint (RFC 5965) is the strongest "stop": the person is `complained` whatever their
 * state, and the address goes on the suppression list so an import cannot bring it back.
 */
async function applyComplaint(trx: Executor, delivery: LinkedDelivery, feedbackType: string): Promise<string> {
  if (feedbackType !== 'abuse' && feedbackType !== 'fraud' && feedbackType !== 'virus') {
    return `feedback type ${feedbackType} is not a complaint: nothing changed`;
  }
  await markDelivery(trx, delivery, 'complained', `complaint (${feedbackType}) reported by the recipient's provider`);
  const { rows } = await sql<{ email: string; previous: string }>`
    with previous as (select id, status from subscribers where id = ${delivery.subscriber_id} for update)
    update subscribers s set status = 'complained', unsubscribed_at = coalesce(s.unsubscribed_at, now()), unsubscribe_source = coalesce(s.unsubscribe_source, 'complaint'), updated_at = now()
    from previous where s.id = previous.id
    returning s.email, previous.status as previous`.execute(trx);
  const row = rows[0];
  if (!row) return 'subscriber not found: nothing changed';
  await addSuppression(trx, suppressionHash(row.email), 'complaint');
  if (row.previous === 'active' || row.previous === 'pending') {
    await trx.insertInto('consent_events').values({ subscriber_id: delivery.subscriber_id, kind: 'unsubscribed', source: 'complaint' }).execute();
  }
  return row.previous === 'complained' ? 'already complained' : `subscriber suppressed (was ${row.previous})`;
}
