import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Database } from '../db/database.ts';
import { parseHfItems } from './hf-item.ts';
import { writeSkippingRefused, type RejectedPaper } from './ingest.ts';
import { countPapers, dedupeByArxivId, upsertPapers } from './paper.repository.ts';

export const sampleDataFile = path.join(import.meta.dirname, '../../data/sample/daily-papers.json');

export interface ImportSummary {
  items: number;
  inserted: number;
  updated: number;
  invalid: { index: number; reason: string }[];
  /** Valid items the database refused, skipped with the reason. */
  rejected: RejectedPaper[];
}

export class ImportFileError extends Error {
  override name = 'ImportFileError';
}

/**
 * Imports a file in the shape of the Hugging Face Daily Papers API (a bare JSON array). Invalid
 * items are reported and skipped; the valid ones are upserted in one transaction.
 */
export async function importPapersFile(db: Database, file: string): Promise<ImportSummary> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ImportFileError(`cannot read ${file}: ${(error as Error).message}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new ImportFileError(`${file} is not valid JSON: ${(error as Error).message}`);
  }
  if (!Array.isArray(data)) throw new ImportFileError(`${file} must hold a JSON array of Daily Papers items`);
  const { records, invalid } = parseHfItems(data);
  const counts = await db.transaction().execute((trx) => writeSkippingRefused(trx, dedupeByArxivId(records), (rows) => upsertPapers(trx, rows)));
  return { items: data.length, ...counts, invalid };
}

/** Loads the bundled sample papers into an empty papers table (a first run has something to send). */
export async function importSampleDataIfEmpty(db: Database): Promise<ImportSummary | undefined> {
  if ((await countPapers(db)) > 0) return undefined;
  return importPapersFile(db, sampleDataFile);
}
