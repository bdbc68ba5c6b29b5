import { sql } from 'kysely';
import type { Executor } from '../db/database.ts';
import type { DeliveryDeps } from './deps.ts';
import { pauseSending, type RunPauses } from './pause.ts';

/**
 * The bounce and complaint budget of one send run. Mailbox providers judge a sender by these two
 * rates (Gmail's and Yahoo's bulk sender rules ask for a spam rate under 0.3%); a run that blows
 * through them is better paused for an operator to look at (a stale list, a bought list, a
 * broken unsubscribe) than sent to the end. The ledger is the source, whoever wrote to it: the
 * relay's own replies (failure-policy.ts) and reports that arrive later (src/inbound/) alike.
 */
export interface RunBudgetSettings {
  /** Pause when bounced / attempted exceeds this … */
  maxBounceRate: number;
  /** … once at least this many rows were attempted (a few early bounces say little). */
  bounceMinAttempts: number;
  /** Pause when complained / accepted exceeds this … */
  maxComplaintRate: number;
  /** … once at least this many were accepted. */
  complaintMinSent: number;
}

export const DEFAULT_RUN_BUDGET: RunBudgetSettings = { maxBounceRate: 0.05, bounceMinAttempts: 200, maxComplaintRate: 0.003, complaintMinSent: 1000 };

/** How often one process re-reads a run's rates while sending it: a count over the run's ledger rows. */
export const RUN_BUDGET_CHECK_MS = 1_000;

export interface RunRates {
  /** Rows handed to the relay: sent, bounced, failed, unknown or complained. */
  attempted: number;
  bounced: number;
  /** Rows the relay accepted: sent or complained (a complaint is about a message that arrived). */
  accepted: number;
  complained: number;
  /** bounced / attempted; null before the first attempt. */
  bounceRate: number | null;
  /** complained / accepted; null before the first accepted message. */
  complaintRate: number | null;
}

/** The rates from per-status counts of a run's ledger (edition-report.ts has them already). */
export function ratesFromCounts(counts: Readonly<Record<string, number>>): RunRates {
  const n = (status: string) => counts[status] ?? 0;
  const attempted = n('sent') + n('bounced') + n('failed') + n('unknown') + n('complained');
  const accepted = n('sent') + n('complained');
  return {
    attempted,
    bounced: n('bounced'),
    accepted,
    complained: n('complained'),
    bounceRate: attempted > 0 ? n('bounced') / attempted : null,
    complaintRate: accepted > 0 ? n('complained') / accepted : null,
  };
}

export async function readRunRates(db: Executor, runId: number): Promise<RunRates> {
  // Raw status names: `complained` is written by the inbound reports (src/inbound/).
  const { rows } = await sql<{ status: string; n: string }>`
    select status, count(*) as n from deliveries where run_id = ${runId} group by status`.execute(db);
  return ratesFromCounts(Object.fromEntries(rows.map((r) => [r.status, Number(r.n)])));
}

/** Why the run must pause, or undefined while it is within its budget. */
export function budgetExceeded(rates: RunRates, budget: RunBudgetSettings): string | undefined {
  const pct = (x: number) => `${(x * 100).toFixed(x < 0.01 ? 2 : 1)}%`;
  if (rates.bounceRate !== null && rates.attempted >= budget.bounceMinAttempts && rates.bounceRate > budget.maxBounceRate) {
    return `bounce rate ${pct(rates.bounceRate)} (${rates.bounced} of ${rates.attempted} attempted) is over RUN_MAX_BOUNCE_RATE ${pct(budget.maxBounceRate)}: check the list for stale or bought addresses, then raise the limit or resume`;
  }
  if (rates.complaintRate !== null && rates.accepted >= budget.complaintMinSent && rates.complaintRate > budget.maxComplaintRate) {
    return `complaint rate ${pct(rates.complaintRate)} (${rates.complained} of ${rates.accepted} accepted) is over RUN_MAX_COMPLAINT_RATE ${pct(budget.maxComplaintRate)}: check consent and the unsubscribe links, then raise the limit or resume`;
  }
  return undefined;
}

/**
 * A check may take this share of the time at most: the next one waits `SPACING` times as long as
 * the last took. The count grows with the run (a million rows: ~0.4 s), and once a second it
 * slowed the send of a million from 1,400 to 750 msg/s as the run went on.
 */
const SPACING = 20;

/**
 * Checks runs against the budget for one process, at most once per run per `intervalMs`, or per
 * `SPACING` times the last check's duration when that is longer (a count over the run's ledger
 * rows, by its (run_id, status) index), and pauses a run that is over it the way 5.7.x rejections
 * do (pause.ts). Concurrent callers share one check.
 */
export class RunBudgetChecks {
  /** Per run: when the next check may start. */
  private readonly last = new Map<number, number>();
  private readonly running = new Map<number, Promise<void>>();
  constructor(
    private readonly budget: RunBudgetSettings,
    private readonly intervalMs = RUN_BUDGET_CHECK_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  async check(deps: Pick<DeliveryDeps, 'db' | 'log'>, pauses: RunPauses, runId: number): Promise<void> {
    const running = this.running.get(runId);
    if (running) return running;
    const notBefore = this.last.get(runId);
    if (notBefore !== undefined && this.now() < notBefore) return;
    if (notBefore === undefined && this.last.size >= 64) this.last.delete(this.last.keys().next().value!);
    const started = this.now();
    this.last.set(runId, started + this.intervalMs);
    const work = (async () => {
      const rates = await readRunRates(deps.db, runId);
      this.last.set(runId, started + Math.max(this.intervalMs, (this.now() - started) * SPACING));
      const reason = budgetExceeded(rates, this.budget);
      if (reason) await pauseSending(deps, pauses, runId, reason);
    })().finally(() => this.running.delete(runId));
    this.running.set(runId, work);
    return work;
  }
}
