import path from 'node:path';
import type { Config } from '../config.ts';
import { importPapersFile } from '../papers/import-file.ts';
import { ingestDay } from '../papers/paper-jobs.ts';
import { createHfDailyPapersClient } from '../papers/sources/hf-daily-papers.ts';
import { withDatabase } from './database.ts';

export async function ingest(config: Config, days: string[]): Promise<number> {
  const hf = createHfDailyPapersClient({
    baseUrl: config.hfApiUrl,
    token: config.hfToken,
    log: { info: () => {}, warn: (data, message) => console.error(`  warning: ${message} ${JSON.stringify(data)}`) },
  });
  return withDatabase(
    config,
    async (db) => {
      const total = { fetched: 0, inserted: 0, updated: 0, invalid: 0 };
      let failures = 0;
      for (const [index, day] of days.entries()) {
        process.stdout.write(`[${index + 1}/${days.length}] ${day} … `);
        try {
          const summary = await ingestDay({ db, hf }, day);
          if (summary === 'already_running') {
            console.log('skipped: another poll of this day is running');
            continue;
          }
          console.log(`${summary.fetched} fetched, ${summary.inserted} new, ${summary.updated} updated, ${summary.invalid} invalid`);
          for (const item of summary.perDate.flatMap((d) => d.invalid)) console.log(`    item ${item.index} skipped: ${item.reason}`);
          for (const item of summary.perDate.flatMap((d) => d.rejected)) console.log(`    paper ${item.arxivId} skipped: ${item.reason}`);
          total.fetched += summary.fetched;
          total.inserted += summary.inserted;
          total.updated += summary.updated;
          total.invalid += summary.invalid;
        } catch (error) {
          failures++;
          console.log(`failed: ${(error as Error).message}`);
        }
      }
      console.log(`Total: ${total.fetched} fetched, ${total.inserted} new, ${total.updated} updated, ${total.invalid} invalid, ${failures} failed days`);
      return failures > 0 ? 1 : 0;
    },
    true,
  );
}

export async function importPapers(config: Config, file: string): Promise<number> {
  const summary = await withDatabase(config, (db) => importPapersFile(db, path.resolve(file)), true);
  for (const item of summary.invalid) console.error(`item ${item.index} skipped: ${item.reason}`);
  for (const item of summary.rejected) console.error(`paper ${item.arxivId} skipped: ${item.reason}`);
  console.log(`${summary.items} items: ${summary.inserted} new, ${summary.updated} updated, ${summary.invalid.length + summary.rejected.length} invalid`);
  return 0;
}
