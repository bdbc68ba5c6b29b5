import { sql } from 'kysely';
import type { Executor } from '../db/database.ts';
import type { ReportPurpose, ReportSource } from './inbound-report.table.ts';

export interface NewReport {
  source: ReportSource;
  remoteIp: string | null;
  envelopeFrom: string | null;
  recipient: string | null;
  purpose: ReportPurpose | null;
  deliveryId: number | null;
  raw: Buffer;
}

/**
 * Stores reports durably (the caller acknowledges only after this resolves). A delivery id that
 * no longer exists (erased with its person) is stored as null rather than failing the insert.
 */
export async function storeReports(db: Executor, reports: readonly NewReport[]): Promise<number[]> {
  if (reports.length === 0) return [];
  const values = reports.map((r) => ({
    source: r.source,
    remote_ip: r.remoteIp,
    envelope_from: r.envelopeFrom?.slice(0, 1000) ?? null,
    recipient: r.recipient?.slice(0, 1000) ?? null,
    purpose: r.purpose,
    delivery_id: r.deliveryId === null ? null : sql<number>`(select id from deliveries where id = ${r.deliveryId})`,
    raw: r.raw,
    raw_bytes: r.raw.length,
  }));
  const rows = await db.insertInto('inbound_reports').values(values).returning('id').execute();
  return rows.map((r) => Number(r.id));
}

/**
 * storeReports for a listener with many connections: reports that arrive while an insert is
 * running are written together by the next one, so under load there is one statement and one
 * commit per group rather than per message, and a quiet listener still writes each one at once.
 * Each caller's promise resolves only once its own reports are committed. A failed group is
 * retried report by report, so one bad message cannot fail the others' transactions.
 */
export function createReportWriter(db: Executor): (reports: readonly NewReport[]) => Promise<void> {
  let waiting: { reports: readonly NewReport[]; done: (error?: unknown) => void }[] = [];
  let writing = false;
  const write = async () => {
    writing = true;
    while (waiting.length > 0) {
      const group = waiting;
      waiting = [];
      try {
        await storeReports(db, group.flatMap((g) => g.reports));
        for (const g of group) g.done();
      } catch (error) {
        if (group.length === 1) group[0]!.done(error);
        else for (const g of group) await storeReports(db, g.reports).then(() => g.done(), (e: unknown) => g.done(e));
      }
    }
    writing = false;
  };
  return (reports) =>
    new Promise<void>((resolve, reject) => {
      waiting.push({ reports, done: (error) => (error === undefined ? resolve() : reject(error)) });
      if (!writing) void write();
    });
}

export async function countPendingReports(db: Executor): Promise<number> {
  const row = await db.selectFrom('inbound_reports').select((eb) => eb.fn.countAll<string>().as('n')).where('processed_at', 'is', null).executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Raw messages are personal data: kept for INBOUND_RAW_DAYS, then only what was done remains. */
export async function purgeOldRaw(db: Executor, olderThanMs: number): Promise<number> {
  const result = await db
    .updateTable('inbound_reports')
    .set({ raw: null })
    .where('raw', 'is not', null)
    .where('processed_at', 'is not', null)
    .where('received_at', '<', sql<Date>`now() - make_interval(secs => ${olderThanMs / 1000})`)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}
