import type { Config } from '../config.ts';
import { previewDailyEdition } from '../editions/edition.service.ts';
import { withDatabase } from './database.ts';

/** Renders the digest of a day to HTML, to stdout or a file, without sending. */
export async function preview(config: Config, day: string, out: string | undefined): Promise<number> {
  const preview = await withDatabase(config, (db) =>
    previewDailyEdition(db, day, { publicUrl: config.publicUrl, maxPapers: config.digestMaxPapers }),
  );
  if (preview.papers.length === 0) {
    console.error(`No papers were featured on ${day}.`);
    return 1;
  }
  if (out) {
    const { writeFile } = await import('node:fs/promises');
    await writeFile(out, preview.html);
    console.log(`Wrote ${out} (${preview.papers.length} papers, ${Buffer.byteLength(preview.html)} bytes of HTML)`);
  } else process.stdout.write(preview.html);
  return 0;
}
