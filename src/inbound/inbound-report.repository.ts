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
