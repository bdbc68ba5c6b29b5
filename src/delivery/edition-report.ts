import type { Executor } from '../db/database.ts';
import type { Edition } from '../editions/edition.table.ts';
import { countDeliveriesByStatus, findSendWindow } from './delivery.repository.ts';
import type { DeliveryStatus } from './delivery.table.ts';
import { ratesFromCounts } from './run-budget.ts';
import { findSendRunByEdition } from './send-run.repository.ts';
import type { SendRun } from './send-run.table.ts';

/** What an operator needs to know about one edition's delivery; the ledger is the source. */
export interface EditionReport {
  id: number;
  /** The send run of the edition; null while it has none (an empty edition never has one). */
  runId: number | null;
  kind: string;
  date: string;
  /** The run's status once there is a run, else the edition's (`empty` or `ready`). */
  status: string;
  subject: string;
  papers: number;
  pauseReason: string | null;
  planned: number;
  counts: Record<DeliveryStatus, number>;
  /** Deliveries in a terminal state (sent, failed, bounced, skipped, unknown). */
  done: number;
  planStartedAt: string | null;
  plannedAt: string | null;
  sendStartedAt: string | null;
  finishedAt: string | null;
  firstSentAt: string | null;
  lastSentAt: string | null;
  /** Accepted messages per second between the first and the last one. */
  sentPerSecond: number | null;
  policyFailures: number;
  /** bounced / attempted and complained / accepted, from the ledger (run-budget.ts); null before any. */
  bounceRate: number | null;
  complaintRate: number | null;
}

const iso = (d: Date | null | undefined) => (d ? new Date(d).toISOString() : null);

const noDeliveries = (): Record<DeliveryStatus, number> => ({ queued: 0, sending: 0, sent: 0, failed: 0, bounced: 0, complained: 0, skipped: 0, unknown: 0 });

export async function buildEditionReport(db: Executor, edition: Edition, run?: SendRun): Promise<EditionReport> {
  run ??= await findSendRunByEdition(db, edition.id);
  const [counts, window] = run
    ? await Promise.all([countDeliveriesByStatus(db, run.id), findSendWindow(db, run.id)])
    : [noDeliveries(), { first: null, last: null }];
  const span = window.first && window.last ? (new Date(window.last).getTime() - new Date(window.first).getTime()) / 1000 : 0;
  return {
    id: edition.id,
    runId: run?.id ?? null,
    kind: edition.kind,
    date: edition.digest_date,
    status: run?.status ?? edition.status,
    subject: edition.subject,
    papers: edition.paper_ids.length,
    pauseReason: run?.pause_reason ?? null,
    planned: run?.planned_count ?? 0,
    counts,
    done: counts.sent + counts.failed + counts.bounced + counts.complained + counts.skipped + counts.unknown,
    planStartedAt: iso(run?.plan_started_at),
    plannedAt: iso(run?.planned_at),
    sendStartedAt: iso(run?.send_started_at),
    finishedAt: iso(run?.finished_at),
    firstSentAt: iso(window.first),
    lastSentAt: iso(window.last),
    sentPerSecond: span > 0 ? Math.round((counts.sent / span) * 10) / 10 : null,
    policyFailures: run?.policy_failures ?? 0,
    ...rounded(ratesFromCounts(counts)),
  };
}

const rounded = (r: { bounceRate: number | null; complaintRate: number | null }) => ({
  bounceRate: r.bounceRate === null ? null : Math.round(r.bounceRate * 1e5) / 1e5,
  complaintRate: r.complaintRate === null ? null : Math.round(r.complaintRate * 1e5) / 1e5,
});

/** The edition of `date`, or the most recent ones. */
export async function findEditionReports(db: Executor, options: { date?: string; limit?: number } = {}): Promise<EditionReport[]> {
  const editions = await db
    .selectFrom('editions')
    .selectAll()
    .$if(options.date !== undefined, (q) => q.where('digest_date', '=', options.date!))
    .orderBy('digest_date', 'desc')
    .orderBy('id', 'desc')
    .limit(options.limit ?? 10)
    .execute();
  return Promise.all(editions.map((e) => buildEditionReport(db, e)));
}

export async function findEditionReportById(db: Executor, id: number): Promise<EditionReport | undefined> {
  const edition = await db.selectFrom('editions').selectAll().where('id', '=', id).executeTakeFirst();
  return edition ? buildEditionReport(db, edition) : undefined;
}

/** One screen of text per edition, for `paperboy status`. */
export function formatEditionReport(r: EditionReport): string {
  const lines = [
    `Edition ${r.id} (${r.kind} ${r.date}): ${r.status}${r.pauseReason ? ` — ${r.pauseReason}` : ''}`,
    `  ${r.papers} papers; "${r.subject}"`,
    `  planned ${r.planned}, done ${r.done}: ` + (Object.entries(r.counts) as [string, number][]).map(([k, v]) => `${k} ${v}`).join(', '),
  ];
  if (r.counts.unknown > 0) lines.push(`  ${r.counts.unknown} unknown: a worker stopped mid-send or the relay went silent after the final dot; the server may have accepted them, they are not re-sent automatically`);
  const times = [
    r.planStartedAt && `planning ${r.planStartedAt}`,
    r.sendStartedAt && `sending ${r.sendStartedAt}`,
    r.finishedAt && `finished ${r.finishedAt}`,
  ].filter(Boolean);
  if (times.length > 0) lines.push(`  ${times.join(', ')}`);
  const pct = (x: number | null) => (x === null ? 'n/a' : `${(x * 100).toFixed(2)}%`);
  if (r.runId !== null) lines.push(`  bounce rate ${pct(r.bounceRate)}, complaint rate ${pct(r.complaintRate)}`);
  if (r.sentPerSecond !== null) lines.push(`  rate ${r.sentPerSecond} messages/s (${r.firstSentAt} → ${r.lastSentAt})`);
  return lines.join('\n');
}
