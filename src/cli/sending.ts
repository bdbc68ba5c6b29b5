import type { Config } from '../config.ts';
import { retryOnConnectionLoss } from '../db/connection-loss.ts';
import { countDeliveriesByStatus } from '../delivery/delivery.repository.ts';
import { findEditionReportById, formatEditionReport, type EditionReport } from '../delivery/edition-report.ts';
import { findSendRunById } from '../delivery/send-run.repository.ts';
import { findEditionByDate } from '../editions/edition.repository.ts';
import { createLogger } from '../logger.ts';
import { openCommandContext, startService } from '../main.ts';
import { withDatabase } from './database.ts';
import { onStopSignals, signalExitCode } from './stop-signals.ts';

function progressLine(report: EditionReport, elapsedMs: number): string {
  const total = Math.max(report.planned, report.done + report.counts.queued + report.counts.sending);
  if (total === 0) return `planning edition ${report.id}…`;
  const width = 30;
  const filled = total === 0 ? width : Math.round((report.done / total) * width);
  const rate = elapsedMs > 0 ? report.done / (elapsedMs / 1000) : 0;
  const eta = rate > 0 && total > report.done ? ` eta ${Math.ceil((total - report.done) / rate)}s` : '';
  const c = report.counts;
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${report.done}/${total} ${rate.toFixed(0)}/s${eta}  sent ${c.sent} skipped ${c.skipped} failed ${c.failed} bounced ${c.bounced} unknown ${c.unknown}`;
}

export async function send(config: Config, day: string): Promise<number> {
  const log = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel);
  // Ctrl-C or SIGTERM: stop sending, wait for the replies under way, give back the rest, exit 0
  // (a later `send` finishes the edition); a second one exits at once.
  let interrupted: NodeJS.Signals | undefined;
  let wake = () => {};
  const removeSignals = onStopSignals(
    (signal) => {
      interrupted = signal;
      if (process.stdout.isTTY) process.stdout.write('\n');
      console.error(`${signal}: stopping. No new messages; waiting up to ${config.shutdownGraceMs / 1000} s for the relay's replies to those under way (again to quit at once).`);
      wake();
    },
    (signal) => {
      console.error(`${signal}: quitting now; messages under way are settled by the next worker (see paperboy unknown).`);
      process.exit(signalExitCode(signal));
    },
  );
  // An in-process digest worker, so the command sends by itself; a running service's workers
  // may take batches too, and the ledger keeps them from sending anything twice.
  const service = await startService(config, { role: 'worker', log, workerQueues: ['digest', 'send'], schedule: false });
  let editionId: number | undefined;
  try {
    // Building and requesting an edition is idempotent, and the progress poll only reads: both
    // wait out a lost database connection instead of ending the command.
    const durably = <T>(work: () => Promise<T>) => retryOnConnectionLoss(work, { log, what: 'send' });
    const { edition } = await durably(() => service.services.requestDailyDigest(day));
    if (edition.status === 'empty') {
      console.log(`No papers were featured on ${day}: nothing to send.`);
      return 0;
    }
    editionId = edition.id;
    console.log(`Edition ${edition.id} for ${day}: ${edition.paper_ids.length} papers, "${edition.subject}"`);
    const started = Date.now();
    let lastPrinted = 0;
    while (!interrupted) {
      const report = (await durably(() => findEditionReportById(service.db, edition.id)))!;
      const line = progressLine(report, Date.now() - started);
      // A redrawn bar on a terminal; a line every few seconds in a log.
      if (process.stdout.isTTY) process.stdout.write(`\r${line}`);
      else if (Date.now() - lastPrinted > 5_000) (console.log(line), (lastPrinted = Date.now()));
      if (report.status === 'sent' || report.status === 'paused') {
        if (process.stdout.isTTY) process.stdout.write('\n');
        console.log(formatEditionReport(report));
        return report.status === 'paused' ? 4 : report.counts.failed + report.counts.unknown > 0 ? 3 : 0;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 250);
        wake = () => (clearTimeout(timer), resolve());
      });
    }
  } finally {
    await service.close();
    removeSignals();
  }
  // Interrupted: the workers have stopped and recorded what the relay answered.
  if (editionId !== undefined) {
    const id = editionId;
    const report = await withDatabase(config, (db) => findEditionReportById(db, id));
    if (report) console.log(formatEditionReport(report));
  }
  console.log(`Interrupted: messages not yet sent are queued again; run \`paperboy send --date ${day}\` to finish the edition.`);
  return 0;
}

/** One hourly tick by hand: requests the due runs, then waits for each and prints its counts. */
export async function deliverDueCommand(config: Config, at: Date): Promise<number> {
  const log = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel);
  const service = await startService(config, { role: 'worker', log, workerQueues: ['digest', 'send'], schedule: false });
  try {
    const durably = <T>(work: () => Promise<T>) => retryOnConnectionLoss(work, { log, what: 'deliver-due' });
    const runs = await durably(() => service.services.deliverDue(at));
    if (runs.length === 0) console.log(`Nobody's delivery hour began in the hour of ${at.toISOString()}: nothing to send.`);
    let exitCode = 0;
    for (const due of runs) {
      if (!due.runId) {
        console.log(`${due.kind} edition ${due.digestDate}: no papers, nothing to send.`);
        continue;
      }
      for (;;) {
        const run = await durably(() => findSendRunById(service.db, due.runId!));
        if (run && (run.status === 'sent' || run.status === 'paused')) {
          const counts = await durably(() => countDeliveriesByStatus(service.db, run.id));
          console.log(`${due.kind} edition ${due.digestDate} (run ${run.id}, ${run.audience}): ${run.status}; ${Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ')}`);
          if (run.status === 'paused') exitCode = 4;
          else if (counts.failed + counts.unknown > 0 && exitCode === 0) exitCode = 3;
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
    return exitCode;
  } finally {
    await service.close();
  }
}

export async function resume(config: Config, day: string): Promise<number> {
  const context = await openCommandContext(config, createLogger('warn'));
  try {
    const edition = await findEditionByDate(context.db, 'daily', day);
    const resumed = edition && (await context.services.resumeEdition(edition.id));
    if (!edition || !resumed) {
      const report = edition && (await findEditionReportById(context.db, edition.id));
      console.error(report ? `Edition ${report.id} is ${report.status}, not paused.` : `No edition for ${day}.`);
      return 1;
    }
    console.log(`Edition ${edition.id} resumed; running workers continue it.`);
    return 0;
  } finally {
    await context.close();
  }
}
