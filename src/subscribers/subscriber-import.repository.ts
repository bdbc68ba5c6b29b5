import { sql } from 'kysely';
import type { Executor } from '../db/database.ts';
import type { ConsentRecord } from './subscriber.table.ts';

export type ImportConsent = { kind: 'confirm' } | { kind: 'already_consented'; note: string };

export interface ImportRow {
  line: number;
  email: string;
  topics: string[];
  timeZone: string;
}

/**
 * The consent record of an imported person. Kept in this one function (with the insert below) so
 * that recording consent elsewhere (a history table) changes one place.
 */
export function importConsentRecord(consent: ImportConsent, row: ImportRow, context: { at: string; source: string }): ConsentRecord {
  return {
    subscribedAt: context.at,
    ip: '',
    userAgent: null,
    form: 'import',
    importSource: context.source,
    importLine: row.line,
    ...(consent.kind === 'already_consented' ? { confirmedAt: context.at, consentNote: consent.note } : {}),
  };
}

/**
 * Inserts the rows whose address is not stored yet and returns their ids; an address already
 * present (whatever its state) is left untouched, so importing a file again changes nothing.
 * Already-consented rows start active, the others pending until they confirm.
 */
export async function insertImportedSubscribers(
  db: Executor,
  rows: readonly ImportRow[],
  consent: ImportConsent,
  context: { at: string; source: string },
): Promise<{ id: number; email: string }[]> {
  if (rows.length === 0) return [];
  const active = consent.kind === 'already_consented';
  return db
    .insertInto('subscribers')
    .values(
      rows.map((row) => ({
        email: row.email,
        status: active ? ('active' as const) : ('pending' as const),
        topics: row.topics,
        time_zone: row.timeZone,
        consent: JSON.stringify(importConsentRecord(consent, row, context)),
        confirmed_at: active ? sql<Date>`now()` : null,
      })),
    )
    .onConflict((oc) => oc.column('email').doNothing())
    .returning(['id', 'email'])
    .execute();
}

/** Which of these suppression hashes are stored (erased people). */
export async function findSuppressedHashes(db: Executor, hashes: readonly Buffer[]): Promise<Set<string>> {
  if (hashes.length === 0) return new Set();
  const rows = await db.selectFrom('suppressions').select('address_hash').where('address_hash', 'in', hashes as Buffer[]).execute();
  return new Set(rows.map((r) => r.address_hash.toString('hex')));
}
