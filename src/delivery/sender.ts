import { sql } from 'kysely';
import { retryOnConnectionLoss } from '../db/connection-loss.ts';
import type { Executor } from '../db/database.ts';
import { findEditionById } from '../editions/edition.repository.ts';
import type { Edition } from '../editions/edition.table.ts';
import type { EditionSettings } from '../editions/edition.service.ts';
import { createSubscriberToken } from '../subscribers/tokens.ts';
import { claimQueuedDeliveries, findNextDueInWindow, recordDeliveryOutcomes, releaseDelivery, type ClaimedDelivery, type DeliveryOutcome } from './delivery.repository.ts';
import type { SendBatch, StopSignal } from './deps.ts';
import { digestMessageId } from './digest-message.ts';
import type { DigestContent, DigestTransport } from './digest-transport.ts';
import { handleSendFailure, type BatchCounts, type FailureDeps } from './failure-policy.ts';
import { deferPacedDeliveries } from './domain-pacing.ts';
import { finishIfDone } from './finish.ts';
import type { RunBudgetChecks } from './run-budget.ts';
import type { SendRateLimiter } from './send-rate.ts';
import { isRelayWide, sendJobRetry } from './retry.ts';
import { findSendRunById } from './send-run.repository.ts';
import { classifySmtpError, type SmtpFailure } from './smtp-errors.ts';
import { stoppedUnsent } from './smtp-connection.ts';
import { unsubscribeMailto, verpAddress, type VerpSettings } from './verp.ts';

export type { BatchCounts } from './failure-policy.ts';

export interface SenderDeps extends FailureDeps {
  transport: DigestTransport;
  rate: SendRateLimiter;
  /** Signs the personal links (unsubscribe, preferences) of every message. */
  secret: string;
  /** Envelope sender and the domain of Message-IDs. */
  mailFrom: { name: string; address: string };
  /** Per-delivery return path and mailto: unsubscribe address, when BOUNCE_DOMAIN is set (verp.ts). */
  bounce?: VerpSettings | undefined;
  /** Claim-and-send loops per batch job; with the job concurrency they keep the pool busy. */
  lanes: number;
  /** Messages assembled and handed to the transport but not finished, per process. */
  inFlight: Semaphore;
  /** Editions read once per process: a batch job does not re-read 70 kB of templates. */
  editions: RunContentCache;
  /** For planning (variants are rendered with these). */
  edition: EditionSettings;
  /** This process is shutting down: claim nothing more, start nothing more. */
  stop: StopSignal;
  /** Pauses a run past its bounce or complaint rate (run-budget.ts). */
  budget: RunBudgetChecks;
}

/**
 * Bounds the messages in flight in this process: enough to keep every pooled connection busy,
 * few enough that memory stays flat (each one is a ~70 kB buffer until the server has it).
 */
export class Semaphore {
  private available: number;
  private readonly waiting: (() => void)[] = [];
  constructor(readonly size: number) {
    this.available = size;
  }
  async acquire(): Promise<void> {
    if (this.available > 0) {
      this.available--;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.available++;
  }
}

/**
 * A run's edition and the variants of it, kept per process; neither changes once built. Ledger
 * rows are planned in variant order, so a chunk of claimed rows shares a few variants; the 2 send
 * jobs × 2 lanes in flight need ~15 with ~20 readers a variant. 32 recently used cover them with
 * room to spare, and memory does not grow with the number of variants of a send. A variant is a
 * layout of parts its edition's variants share (digest-splice.ts): the parts are kept by key,
 * so a variant met later reads only the parts no earlier one showed (a few kB, not 80).
 */
export class RunContentCache {
  private readonly runs = new Map<number, Edition>();
  private readonly variants = new Map<number, DigestContent>();
  /** Part HTML by key (a digest of the HTML, so the same key is the same HTML in any edition). */
  private readonly parts = new Map<string, string>();
  constructor(
    private readonly size = 16,
    private readonly variantsKept = 32,
    private readonly partsKept = 2_000,
  ) {}
  /** What a ledger row sends: its variant (edition_variants), or the edition's own content. */
  async content(db: Executor, edition: Edition, variantId: number | null): Promise<DigestContent> {
    if (variantId === null) return edition;
    const cached = this.variants.get(variantId);
    if (cached) {
      this.variants.delete(variantId);
      this.variants.set(variantId, cached);
      return cached;
    }
    await this.load(db, edition, [variantId]);
    const loaded = this.variants.get(variantId);
    if (!loaded) throw new Error(`variant ${variantId} of edition ${edition.id} not found`);
    return loaded;
  }
  /** Reads the variants of a claimed chunk that are not kept yet and the parts they name, in two statements. */
  async load(db: Executor, edition: Edition, variantIds: readonly (number | null)[]): Promise<void> {
    const missing = [...new Set(variantIds)].filter((id): id is number => id !== null && !this.variants.has(id));
    if (missing.length === 0) return;
    const rows = await db
      .selectFrom('edition_variants')
      .select(['id', 'subject', 'html_template', 'html_layout', 'text_template'])
      .where('id', 'in', missing)
      .execute();
    const unknown = new Set<string>();
    for (const row of rows) for (const item of row.html_layout ?? []) if (typeof item !== 'string' && !this.parts.has(item.part)) unknown.add(item.part);
    if (unknown.size > 0) {
      const found = await db
        .selectFrom('edition_parts')
        .select(['key', 'html'])
        .where('edition_id', '=', edition.id)
        .where(sql<boolean>`key = any(${[...unknown]}::text[])`)
        .execute();
      for (const part of found) {
        if (this.parts.size >= this.partsKept) this.parts.delete(this.parts.keys().next().value!);
        this.parts.set(part.key, part.html);
      }
    }
    for (const { id, html_layout, ...row } of rows) {
      let layout: DigestContent['layout'];
      if (html_layout) {
        // The variant holds its own parts: the shared map may evict them while it is in use.
        const parts = new Map<string, string>();
        for (const item of html_layout) {
          if (typeof item === 'string') continue;
          const html = this.parts.get(item.part);
          if (html === undefined) throw new Error(`variant ${id} of edition ${edition.id}: part ${item.part} not found`);
          parts.set(item.part, html);
        }
        layout = { items: html_layout, parts };
      }
      if (this.variants.size >= this.variantsKept) this.variants.delete(this.variants.keys().next().value!);
      this.variants.set(id, { id: edition.id, variantId: id, ...row, layout });
    }
  }
  async get(db: Executor, runId: number): Promise<Edition | undefined> {
    let edition = this.runs.get(runId);
    if (!edition) {
      const run = await findSendRunById(db, runId);
      edition = run && (await findEditionById(db, run.edition_id));
      if (!edition) return undefined;
      if (this.runs.size >= this.size) this.runs.delete(this.runs.keys().next().value!);
      this.runs.set(runId, edition);
    }
    return edition;
  }
}

/**
 * Sends one batch window: claim a chunk of rows (status lock), send each through the transport,
 * record the chunk's outcomes in one statement, repeat. The ledger is the progress: a crash
 * leaves at most the chunks in flight `sending` (later `unknown`), and nothing is sent twice.
 * Transient failures go back to `queued` with a backoff (retry.ts), and the job comes back,
 * delayed, when the first of them is due.
 */
export async function sendBatch(deps: SenderDeps, batch: SendBatch): Promise<BatchCounts> {
  const counts: BatchCounts = { sent: 0, skipped: 0, bounced: 0, failed: 0, requeued: 0, unknown: 0, released: 0, paced: 0 };
  const edition = await deps.editions.get(deps.db, batch.runId);
  if (!edition) return counts;
  const run = { id: batch.runId, editionId: edition.id, fromId: batch.fromDeliveryId, toId: batch.toDeliveryId };
  const recording: Promise<unknown>[] = [];
  // What the relay answered is known and must reach the ledger, so a lost database connection is
  // waited out here rather than failing the job (which would leave the row `sending`).
  const durably = <T>(what: string, work: () => Promise<T>) => retryOnConnectionLoss(work, { log: deps.log, what });
  let relayDown: SmtpFailure | undefined;

  const sendOne = async (row: ClaimedDelivery, outcomes: DeliveryOutcome[]) => {
    // Paused since the claim (by any process): the row goes back unsent (pause.ts).
    if (await durably('read the run state', () => deps.pauses.isPaused(deps.db, batch.runId))) {
      await durably('release a claimed row', () => releaseDelivery(deps.db, row.id));
      return;
    }
    if (row.subscriberStatus !== 'active') {
      outcomes.push({ id: row.id, status: 'skipped', reason: `subscriber ${row.subscriberStatus}` });
      counts.skipped++;
      return;
    }
    // Shutting down: a row not yet handed to the relay goes back untouched (not `unknown`).
    const giveBack = async () => {
      await durably('release a claimed row', () => releaseDelivery(deps.db, row.id));
      counts.released++;
    };
    if (deps.stop.stopping) return giveBack();
    const messageId = digestMessageId(edition.id, row.subscriberId, deps.mailFrom);
    // The relay refused a connection a moment ago: this row waits with the batch, untried.
    if (relayDown) return handleSendFailure(deps, run, row, messageId, relayDown, counts);
    try {
      const content = await deps.editions.content(deps.db, edition, row.variantId);
      const { response } = await deps.transport.send(
        // VERP: a bounce mailed back names this delivery.
        { from: deps.bounce ? verpAddress(deps.bounce, 'bounce', row.id) : deps.mailFrom.address, to: row.email },
        {
          mailtoUnsubscribe: deps.bounce && unsubscribeMailto(deps.bounce, row.id),
          edition: content,
          subscriberId: row.subscriberId,
          email: row.email,
          unsubscribeToken: createSubscriberToken(deps.secret, 'unsubscribe', row.subscriberId, row.tokenVersion),
          preferencesToken: createSubscriberToken(deps.secret, 'preferences', row.subscriberId, row.tokenVersion),
        },
      );
      outcomes.push({ id: row.id, status: 'sent', messageId, smtpResponse: response });
      counts.sent++;
    } catch (error) {
      // Stopped by the shutdown before its final dot: nothing was delivered, nothing is counted.
      if (stoppedUnsent(error)) return giveBack();
      const failure = classifySmtpError(error);
      if (isRelayWide(failure)) relayDown = failure;
      await handleSendFailure(deps, run, row, messageId, failure, counts);
    }
  };

  const lane = async () => {
    for (;;) {
      if (deps.stop.stopping) return;
      const tokens = await deps.rate.take(deps.rate.maxChunk);
      // If a connection dies after the claim committed but before its answer arrived, the rows
      // stay `sending` under this worker; the reconcile sweep turns such stale claims `unknown`.
      const claimStarted = deps.pauses.clock();
      const rows = await durably('claim rows', () =>
        claimQueuedDeliveries(deps.db, {
          runId: batch.runId,
          fromId: batch.fromDeliveryId,
          toId: batch.toDeliveryId,
          limit: tokens,
          workerId: deps.workerId,
        }),
      );
      // Tokens for rows that were not there (the window is done, or its rows wait for later) go
      // back: a job that comes back for a few due rows would otherwise spend a chunk's worth.
      if (rows.length < tokens) await deps.rate.giveBack(tokens - rows.length);
      if (rows.length === 0) return;
      // The claim only takes rows of a run that is `sending`: a fresher fact than a pause seen before.
      deps.pauses.claimed(batch.runId, claimStarted);
      // Rows whose provider has no room now wait in the queue; the other providers' rows go on.
      // The chunk's variants not kept yet, read in one statement rather than one per variant.
      await durably('read the variants', () => deps.editions.load(deps.db, edition, rows.map((r) => r.variantId)));
      const paced = await deps.pacing.admit(rows);
      if (paced.later.length > 0) {
        await durably('defer paced rows', () => deferPacedDeliveries(deps.db, paced.later.map((x) => ({ id: x.row.id, delayMs: x.delayMs, group: x.group }))));
        counts.paced += paced.later.length;
        // Their share of SEND_RATE goes to rows of other providers, here or in other windows.
        await deps.rate.giveBack(paced.later.length);
        // Only waiting rows are due here now: the job gives its slot to other windows and comes
        // back when the first of them is due, rather than claiming each as it comes due to defer it again.
        if (paced.now.length === 0) return;
      }
      const outcomes: DeliveryOutcome[] = [];
      const sends: Promise<void>[] = [];
      for (const row of paced.now) {
        await deps.inFlight.acquire();
        sends.push(sendOne(row, outcomes).finally(() => deps.inFlight.release()));
      }
      await Promise.all(sends);
      // Recording overlaps the next chunk's sending; the job only completes once all are recorded.
      const recorded = durably('record outcomes', () => recordDeliveryOutcomes(deps.db, deps.workerId, outcomes)).then(() =>
        durably('check the run budget', () => deps.budget.check(deps, deps.pauses, batch.runId)),
      );
      // Awaited below; handled now so a failure in the meantime is not an unhandled rejection.
      recorded.catch(() => {});
      recording.push(recorded);
      if (rows.length < tokens) return;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, deps.lanes) }, lane));
  await Promise.all(recording);
  await finishIfDone(deps, batch.runId);
  // Rows waiting out a backoff or their provider's pace, or given back by a shutdown, are this window's job's to send later.
  if (counts.requeued > 0 || counts.released > 0 || counts.paced > 0) await comeBackWhenDue(deps, batch);
  return counts;
}

/**
 * Rows of this window wait out a backoff: the job returns, delayed, when the first is due. Its
 * id names the round, so a re-run of this job (a stalled worker) enqueues the same one. A paused
 * run gets nothing: resuming enqueues its rows again (pause.ts).
 */
async function comeBackWhenDue(deps: SenderDeps, batch: SendBatch): Promise<void> {
  const window = { runId: batch.runId, fromId: batch.fromDeliveryId, toId: batch.toDeliveryId };
  const delayMs = await retryOnConnectionLoss(() => findNextDueInWindow(deps.db, window), { log: deps.log, what: 'find the next retry' });
  if (delayMs === undefined) return;
  const run = await retryOnConnectionLoss(() => findSendRunById(deps.db, batch.runId), { log: deps.log, what: 'read the run' });
  if (run?.status !== 'sending' && run?.status !== 'planning') return;
  // A few ms late rather than early: the claim compares with the database's clock.
  await deps.jobs.enqueueSendRetry({ ...batch, round: (batch.round ?? 0) + 1 }, delayMs + 20, sendJobRetry(deps.delivery));
}
