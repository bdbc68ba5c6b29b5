import { buildEditionReport, findEditionReports, type EditionReport } from '../delivery/edition-report.ts';
import type { Executor } from '../db/database.ts';
import { findEditionById } from '../editions/edition.repository.ts';
import { fillTemplate, splitTemplate } from '../email/templates.ts';
import { countSubscribersByStatus } from '../subscribers/subscriber.repository.ts';

/** What the console shows of an edition's delivery: the ledger report plus derived figures. */
export interface EditionProgress extends EditionReport {
  /** Share of planned rows in a final state, 0–100. */
  percentDone: number;
  /** The run's bounce and complaint rates (src/delivery/edition-report.ts) as percentages; null before any. */
  bouncePercent: number | null;
  complaintPercent: number | null;
}

const oneDecimal = (n: number) => Math.round(n * 10) / 10;

const percent = (rate: number | null) => (rate === null ? null : Math.round(rate * 10_000) / 100);

export function progressOf(report: EditionReport): EditionProgress {
  return {
    ...report,
    percentDone: report.planned > 0 ? oneDecimal((report.done / report.planned) * 100) : report.status === 'sent' ? 100 : 0,
    bouncePercent: percent(report.bounceRate),
    complaintPercent: percent(report.complaintRate),
  };
}

/** The editions list: the latest editions with their ledger figures, and the complaint count of the list. */
export async function editionsOverview(db: Executor, limit = 30) {
  const [reports, subscribers] = await Promise.all([findEditionReports(db, { limit }), countSubscribersByStatus(db)]);
  return { editions: reports.map(progressOf), complained: subscribers.complained, bounced: subscribers.bounced };
}

export async function editionProgress(db: Executor, id: number): Promise<EditionProgress | undefined> {
  const edition = await findEditionById(db, id);
  return edition && progressOf(await buildEditionReport(db, edition));
}

/**
 * The edition's HTML and text parts as sent, with the per-recipient links (%%UNSUBSCRIBE_URL%% and
 * the like, src/email/templates.ts) replaced by inert `#` so a preview can never unsubscribe anyone.
 */
export async function editionContent(db: Executor, id: number): Promise<{ html: string; text: string } | undefined> {
  const edition = await findEditionById(db, id);
  if (!edition) return undefined;
  const inert = (template: string) => {
    const split = splitTemplate(template);
    return fillTemplate(split, Object.fromEntries(split.names.map((name) => [name, '#'])));
  };
  return { html: inert(edition.html_template), text: inert(edition.text_template) };
}
