import { retryOnConnectionLoss } from '../db/connection-loss.ts';
import { markSubscriberBounced } from '../subscribers/subscriber.repository.ts';
import { deferBatchWindow, deferDelivery, recordDeliveryOutcomes, recordSoftBounce, type ClaimedDelivery, type DeliveryOutcome } from './delivery.repository.ts';
import type { DeliveryDeps } from './deps.ts';
import { isSlowDown, type DomainPacer } from './domain-pacing.ts';
import { pauseSending, type RunPauses } from './pause.ts';
import { isRelayWide, retriesExhausted, retryDelayMs } from './retry.ts';
import { countPolicyFailure } from './send-run.repository.ts';
import type { SmtpFailure } from './smtp-errors.ts';

export interface BatchCounts {
  sent: number;
  skipped: number;
  bounced: number;
  failed: number;
  requeued: number;
  unknown: number;
  /** Claimed but not started when this process began to shut down: back to `queued` as they were. */
  released: number;
  /** Claimed but their receiving provider's pace had no room: back to `queued` with a retry_at (domain-pacing.ts). */
  paced: number;
}

export interface FailureDeps extends DeliveryDeps {
  workerId: string;
  /** This process's view of which runs are paused (send_runs.status in Postgres). */
  pauses: RunPauses;
  /** Pace per receiving provider; a slow-down reply slows that provider only. */
  pacing: DomainPacer;
}

/**
 * What a failed SMTP attempt does to its ledger row, its subscriber and its send run, by the
 * classifier's verdict (smtp-errors.ts): hard bounces suppress, soft bounces count towards
 * suppression, policy rejections count towards a pause, transient failures wait out a backoff in
 * the queue until their attempts and the retry window run out (retry.ts).
 */
export async function handleSendFailure(
  deps: FailureDeps,
  run: { id: number; editionId: number; fromId: number; toId: number },
  row: ClaimedDelivery,
  messageId: string,
  failure: SmtpFailure,
  counts: BatchCounts,
) {
  // The relay's answer is known: a lost database connection is waited out, not a lost outcome.
  const durably = <T>(what: string, work: () => Promise<T>) => retryOnConnectionLoss(work, { log: deps.log, what });
  const record = (status: DeliveryOutcome['status'], reason: string) =>
    durably('record a failure', () =>
      recordDeliveryOutcomes(deps.db, deps.workerId, [
        { id: row.id, status, messageId, smtpResponse: failure.response, enhancedCode: failure.enhancedCode, reason },
      ]),
    );
  const log = { runId: run.id, editionId: run.editionId, deliveryId: row.id, subscriberId: row.subscriberId, kind: failure.kind, response: failure.response };
  switch (failure.kind) {
    case 'hard_bounce':
      await record('bounced', `hard bounce ${failure.enhancedCode ?? failure.responseCode ?? ''}: address suppressed`.trim());
      await markSubscriberBounced(deps.db, row.subscriberId);
      counts.bounced++;
      deps.log.info(log, 'hard bounce: subscriber suppressed');
      return;
    case 'soft_bounce':
      await record('failed', `soft bounce ${failure.enhancedCode ?? ''}: not retried in this edition`);
      await countSoftBounce(deps, run.editionId, row, failure);
      counts.failed++;
      return;
    case 'policy': {
      await record('failed', `policy rejection ${failure.enhancedCode ?? failure.responseCode ?? ''}: recipient kept`);
      counts.failed++;
      const total = await countPolicyFailure(deps.db, run.id);
      if (total >= deps.delivery.policyPauseThreshold) {
        const reason = `paused after ${total} policy rejections (5.7.x: sender authentication or reputation); last reply: ${failure.response}`;
        await pauseSending(deps, deps.pauses, run.id, reason);
      }
      deps.log.warn(log, 'policy rejection');
      return;
    }
    case 'maybe_delivered':
      // Sending it again could make a duplicate; `paperboy unknown` lets an operator decide.
      await record('unknown', 'no reply after the message was sent in full (timed out or connection dropped): the server may have accepted it; not re-sent automatically');
      counts.unknown++;
      deps.log.warn(log, 'no reply after the final dot: delivery unknown');
      return;
    case 'permanent':
      await record('failed', `permanent failure ${failure.enhancedCode ?? failure.responseCode ?? ''}`.trim());
      counts.failed++;
      deps.log.warn(log, 'permanent SMTP failure');
      return;
    case 'transient': {
      const relayWide = isRelayWide(failure);
      // The receiving provider asked to slow down: its group's pace drops for every worker
      // (domain-pacing.ts); the row itself retries like any 4xx (the attempt was real).
      const slowDown = !relayWide && isSlowDown(failure);
      if (slowDown) {
        const rate = await deps.pacing.slowDown(row.email);
        deps.log.warn({ ...log, rate }, 'receiving provider asked to slow down: its pace is reduced');
      }
      if (retriesExhausted(row, relayWide, deps.delivery)) {
        await record('failed', `gave up after ${relayWide ? row.retries + 1 : row.attempts} attempts over ${formatSince(row.failingSince)}`);
        if (failure.softIfFinal) await countSoftBounce(deps, run.editionId, row, failure);
        counts.failed++;
        deps.log.warn(log, 'transient failures did not clear: gave up');
        return;
      }
      const delayMs = retryDelayMs(row.retries + 1, deps.delivery);
      await durably('defer a row', () =>
        deferDelivery(deps.db, row.id, { delayMs, relayWide, smtpResponse: failure.response, enhancedCode: failure.enhancedCode,
          ...(slowDown ? { reason: 'the receiving provider asked to slow down; will retry at its reduced pace' } : {}) }),
      );
      // The relay is down for everyone: the rest of the batch waits too instead of trying in turn.
      if (relayWide) await durably('defer the batch', () => deferBatchWindow(deps.db, { runId: run.id, fromId: run.fromId, toId: run.toId, delayMs }));
      counts.requeued++;
      return;
    }
  }
}

function formatSince(since: Date | null): string {
  const ms = since ? Date.now() - since.getTime() : 0;
  return ms >= 3_600_000 ? `${(ms / 3_600_000).toFixed(1)} h` : ms >= 60_000 ? `${Math.round(ms / 60_000)} min` : `${Math.round(ms / 1000)} s`;
}

async function countSoftBounce(deps: FailureDeps, editionId: number, row: ClaimedDelivery, failure: SmtpFailure) {
  const { consecutive, suppress } = await recordSoftBounce(deps.db, {
    subscriberId: row.subscriberId,
    editionId,
    response: failure.response,
    limit: deps.delivery.softBounceLimit,
    minDays: deps.delivery.softBounceDays,
  });
  if (suppress) {
    await markSubscriberBounced(deps.db, row.subscriberId);
    deps.log.info({ subscriberId: row.subscriberId, consecutive }, 'repeated soft bounces: subscriber suppressed');
  }
}
