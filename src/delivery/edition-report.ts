import type { Executor } from '../db/database.ts';
import type { Edition } from '../editions/edition.table.ts';
import { countDeliveriesByStatus, findSendWindow } from './delivery.repository.ts';
import type { DeliveryStatus } from './delivery.table.ts';

/** What an operator needs to know about one edition's delivery; the ledger is the source. */
export interface EditionReport {
  id: number;
  kind: string;
  date: string;
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
}

const iso = (d: Date | null | undefined) => (d ? new Date(d).toISOString() : null);

export async function buildEditionReport(db: Executor, edition: Edition): Promise<EditionReport> {
  const [counts, window] = await Promise.all([countDeliveriesByStatus(db, edition.id), findSendWindow(db, edition.id)]);
  const span = window.first && window.last ? (new Date(window.last).getTime() - new Date(window.first).getTime()) / 1000 : 0;
  return {
    id: edition.id,
    kind: edition.kind,
    date: edition.digest_date,
    status: edition.status,
    subject: edition.subject,
    papers: edition.paper_ids.length,
    pauseReason: edition.pause_reason,
    planned: edition.planned_count,
    counts,
    done: counts.sent + counts.failed + counts.bounced + counts.skipped + counts.unknown,
    planStartedAt: iso(edition.plan_started_at),
    plannedAt: iso(edition.planned_at),
    sendStartedAt: iso(edition.send_started_at),
    finishedAt: iso(edition.finished_at),
    firstSentAt: iso(window.first),
    lastSentAt: iso(window.last),
    sentPerSecond: span > 0 ? Math.round((counts.sent / span) * 10) / 10 : null,
    policyFailures: edition.policy_failures,
  };
}

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
  if (r.counts.unknown > 0) lines.push(`  ${r.counts.unknown} unknown: a worker stopped mid-send; the server may have accepted them, they are not re-sent`);
  const times = [
    r.planStartedAt && `planning ${r.planStartedAt}`,
    r.sendStartedAt && `sending ${r.sendStartedAt}`,
    r.finishedAt && `finished ${r.finishedAt}`,
  ].filter(Boolean);
  if (times.length > 0) lines.push(`  ${times.join(', ')}`);
  if (r.sentPerSecond !== null) lines.push(`  rate ${r.sentPerSecond} messages/s (${r.firstSentAt} → ${r.lastSentAt})`);
  return lines.join('\n');
}
