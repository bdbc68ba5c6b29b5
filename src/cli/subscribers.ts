import path from 'node:path';
import type { Config } from '../config.ts';
import { createLogger } from '../logger.ts';
import { openCommandContext } from '../main.ts';
import { exportSubscribersCsv, type ImportConsent } from '../subscribers/subscriber-csv.ts';
import { UsageError } from './arguments.ts';
import { withDatabase } from './database.ts';

export async function subscribersCommand(
  config: Config,
  positionals: string[],
  values: { out?: string; 'already-consented'?: boolean; 'consent-note'?: string },
): Promise<number> {
  const [action, file] = positionals;
  if (action === 'export') {
    const { createWriteStream } = await import('node:fs');
    const { pipeline } = await import('node:stream/promises');
    await withDatabase(config, async (db) => {
      await pipeline(exportSubscribersCsv(db), values.out ? createWriteStream(values.out) : process.stdout);
    });
    if (values.out) console.error(`Wrote ${values.out}`);
    return 0;
  }
  if (action !== 'import') throw new UsageError('subscribers needs "export" or "import FILE"');
  if (!file) throw new UsageError('subscribers import needs a FILE');
  const note = values['consent-note']?.trim();
  if (values['already-consented'] && !note) throw new UsageError('--already-consented needs --consent-note "when and how these people agreed"');
  if (!values['already-consented'] && note !== undefined) throw new UsageError('--consent-note only goes with --already-consented');
  const { createReadStream } = await import('node:fs');
  const { access } = await import('node:fs/promises');
  const resolved = path.resolve(file);
  await access(resolved).catch(() => {
    throw new UsageError(`cannot read ${file}`);
  });
  const context = await openCommandContext(config, createLogger('warn'));
  try {
    const consent: ImportConsent = values['already-consented'] ? { kind: 'already_consented', note: note! } : { kind: 'confirm' };
    const started = Date.now();
    const report = await context.services.importSubscribers(createReadStream(resolved), consent, `cli:${path.basename(resolved)}`);
    for (const problem of report.invalid) console.error(problem.line > 0 ? `line ${problem.line} skipped: ${problem.reason}` : problem.reason);
    console.log(
      `${report.rows} rows in ${((Date.now() - started) / 1000).toFixed(1)} s: ${report.added} added (${consent.kind === 'confirm' ? `pending, ${report.confirmationsQueued} confirmations queued at ${config.sendRate}/s` : 'active, consent note recorded'}), ` +
        `${report.existing} already on the list (unchanged), ${report.suppressed} erased earlier (skipped), ${report.duplicates} repeated in the file, ${report.rows - report.added - report.existing - report.suppressed - report.duplicates} invalid`,
    );
    return 0;
  } finally {
    await context.close();
  }
}
