import { sql } from 'kysely';
import type { Executor } from '../db/database.ts';

export type ImportConsent = { kind: 'confirm' } | { kind: 'already_consented'; note: string };

export interface ImportRow {
  line: number;
  email: string;
  topics: string[];
  timeZone: string;
}

/**
 * What the consent history says about an imported person: the file (or upload) and line, and for
 * already-consented imports the operator's note on how these people agreed.
 */
export const ALREADY_CONSENTED = '; already consented: ';

export function importConsentSource(consent: ImportConsent, row: ImportRow, source: string): string {
  const where = `${source}, line ${row.line}`;
  return consent.kind === 'already_consented' ? `${where}${ALREADY_CONSENTED}${consent.note}` : where;
}

/**
 * Inserts the rows whose address is not stored yet (case-insensitively, as the unique index on
 * lower(email) has it) and returns their ids; an address already present (whatever its state) is
 * left untouched, so importing a file again changes nothing. Already-consented rows start active,
 * the others pending until they confirm. Each new person gets an `imported` consent event.
 */
export async function insertImportedSubscribers(
  db: Executor,
  rows: readonly ImportRow[],
  consent: ImportConsent,
  context: { at: string; source: string },
): Promise<{ id: number; email: string }[]> {
  if (rows.length === 0) return [];
  const active = consent.kind === 'already_consented';
  const inserted = await db
    .insertInto('subscribers')
    .values(
      rows.map((row) => ({
        email: row.email,
        status: active ? ('active' as const) : ('pending' as const),
        topics: row.topics,
        time_zone: row.timeZone,
        confirmed_at: active ? sql<Date>`now()` : null,
      })),
    )
    .onConflict((oc) => oc.doNothing())
    .returning(['id', 'email'])
    .execute();
  if (inserted.length === 0) return inserted;
  const byEmail = new Map(rows.map((row) => [row.email, row]));
  await db
    .insertInto('consent_events')
    .values(
      inserted.map(({ id, email }) => ({
        subscriber_id: id,
        kind: 'imported' as const,
        occurred_at: new Date(context.at),
        ip: null,
        user_agent: null,
        source: importConsentSource(consent, byEmail.get(email)!, context.source),
      })),
    )
    .execute();
  return inserted;
}

/** Which of these suppression hashes are stored (erased people). */
export async function findSuppressedHashes(db: Executor, hashes: readonly Buffer[]): Promise<Set<string>> {
  if (hashes.length === 0) return new Set();
  const rows = await db.selectFrom('suppressions').select('address_hash').where('address_hash', 'in', hashes as Buffer[]).execute();
  return new Set(rows.map((r) => r.address_hash.toString('hex')));
}
