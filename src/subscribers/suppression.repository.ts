import { createHash } from 'node:crypto';
import type { Executor } from '../db/database.ts';
import type { SuppressionReason } from './subscriber.table.ts';

/**
 * The suppression key of a normalised address: sha256 over the whole address lower-cased, so
 * `Alice@x` and `alice@x` match. Not keyed with SECRET on purpose: secrets rotate, and a
 * suppression must outlive every key; the hash is only ever compared, never shown.
 */
export function suppressionHash(normalisedAddress: string): Buffer {
  return createHash('sha256').update(`paperboy-suppression:${normalisedAddress.toLowerCase()}`, 'utf8').digest();
}

export async function addSuppression(db: Executor, addressHash: Buffer, reason: SuppressionReason): Promise<void> {
  await db.insertInto('suppressions').values({ address_hash: addressHash, reason }).onConflict((oc) => oc.column('address_hash').doNothing()).execute();
}

/** A confirmed new opt-in lifts the suppression: the person asked again and proved the address. */
export async function removeSuppression(db: Executor, addressHash: Buffer): Promise<void> {
  await db.deleteFrom('suppressions').where('address_hash', '=', addressHash).execute();
}
