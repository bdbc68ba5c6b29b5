import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { isLoopbackHost } from './config/loopback-host.ts';
import { retryOnConnectionLoss } from './db/connection-loss.ts';
import { countDeliveriesByStatus } from './delivery/delivery.repository.ts';
import { findSendRunById } from './delivery/send-run.repository.ts';
import { NotMigratedError } from './db/migrate.ts';
import { findEditionReportById, findEditionReports, formatEditionReport, type EditionReport } from './delivery/edition-report.ts';
import { isIsoDay, startOfUtcDay, utcDayOf } from './dates.ts';
import { DomainError } from './errors.ts';
import { findEditionByDate } from './editions/edition.repository.ts';
import { previewDailyEdition } from './editions/edition.service.ts';
import { createLogger } from './logger.ts';
import { openDatabase, Resources } from './app/infrastructure.ts';
import { openCommandContext, startService, type Role } from './main.ts';
import { formatDoctorReport, runDoctor } from './ops/doctor.ts';
import { ImportFileError, importPapersFile } from './papers/import-file.ts';
import { daysToPoll, ingestDay } from './papers/paper-jobs.ts';
import { createHfDailyPapersClient } from './papers/sources/hf-daily-papers.ts';
import { countSubscribersByStatus } from './subscribers/subscriber.repository.ts';
import { exportSubscribersCsv, type ImportConsent } from './subscribers/subscriber-csv.ts';

const usage = `Usage: paperboy <command> [options]

Service roles:
  all                      API + workers + scheduler in one process (migrates, loads sample papers)
  api                      HTTP only
  worker                   queue workers and the schedules only
  inbound                  the bounce domain's MX: DSNs, complaints and mailto: unsubscribes
                           (INBOUND_PORT; needs BOUNCE_DOMAIN; \`all\` runs it too when it is set)

Commands:
  migrate                  apply pending database migrations
  import FILE              import papers from a Daily Papers API JSON file
  ingest [--date D] [--days N]
                           poll Hugging Face Daily Papers for day D (default today, UTC) and the
                           N-1 days before it (default 1), with a summary per day
  send --date YYYY-MM-DD   build and send the daily digest for that day to every daily reader
                           (not paused), each their own selection, and wait until done
  deliver-due [--at INSTANT]
                           what the hourly schedule does, for the hour of INSTANT (default now,
                           ISO 8601, e.g. 2025-12-27T07:00:00Z): send every reader whose local
                           delivery hour began in that hour the edition due for them; repeatable
  status [--date D]        subscriber counts, and the edition of day D (or the latest ones) with
                           delivery counts per state, start/finish times and send rate
  resume --date D          continue sending a paused edition (after fixing what paused it)
  unknown --date D [--mark-sent | --resend] [--yes]
                           list the deliveries of day D whose outcome is unknown (the relay may
                           have accepted them); with --yes, mark them sent (the relay's logs show
                           it has them) or send them again (whoever did get one gets it twice)
  preview --date D [--out FILE]
                           render the digest of day D to HTML (stdout or FILE) without sending
  doctor [--relay-ip IP] [--dns HOST[:PORT]]
                           check what senders need before the first send (SPF for the relay,
                           the DKIM key in DNS, DMARC alignment, the bounce MX, https and the
                           one-click endpoint) and print the fixes; exit 0 only when all pass
  subscribers export [--out FILE]
                           every subscriber with status and consent fields as CSV (stdout or FILE)
  subscribers import FILE [--already-consented --consent-note "…"]
                           add the addresses of a CSV (header with an "email" column). Default:
                           each new person gets a confirmation email (double opt-in) and stays
                           pending until they confirm. --already-consented: they become active
                           at once, with the note recorded as their consent on every row
`;

class UsageError extends Error {}

function requireDay(value: string | undefined): string {
  if (!value) throw new UsageError('--date YYYY-MM-DD is required');
  if (!isIsoDay(value)) throw new UsageError(`--date must be a calendar day as YYYY-MM-DD, got "${value}"`);
  return value;
}

async function withDatabase<T>(config: Config, fn: (db: Awaited<ReturnType<typeof openDatabase>>) => Promise<T>, migrate = false): Promise<T> {
  const resources = new Resources();
  const log = createLogger('silent');
  try {
    return await fn(await openDatabase(config, resources, { migrate }));
  } finally {
    await resources.closeAll(log);
  }
}

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

/** The exit code of a process ended by a signal, as shells report it (128 + its number). */
const signalExitCode = (signal: NodeJS.Signals) => (signal === 'SIGINT' ? 130 : 143);

/**
 * SIGTERM and Ctrl-C stop gracefully (src/app/shutdown.ts, bounded by SHUTDOWN_GRACE_SECONDS);
 * a second one exits at once, leaving rows under way to their worker's lease (reconciler.ts).
 */
function onStopSignals(stop: (signal: NodeJS.Signals) => void, force: (signal: NodeJS.Signals) => void): () => void {
  let stopping = false;
  const handle = (signal: NodeJS.Signals) => {
    if (stopping) return force(signal);
    stopping = true;
    stop(signal);
  };
  process.on('SIGTERM', handle);
  process.on('SIGINT', handle);
  return () => {
    process.off('SIGTERM', handle);
    process.off('SIGINT', handle);
  };
}

async function runService(config: Config, role: Role): Promise<void> {
  const service = await startService(config, { role });
  onStopSignals(
    (signal) => {
      service.log.info({ signal, graceSeconds: config.shutdownGraceMs / 1000 }, 'shutting down: no new work; waiting for requests and SMTP replies under way');
      void service.close().then(() => process.exit(0));
    },
    (signal) => {
      service.log.warn({ signal }, 'second signal: exiting now');
      process.exit(signalExitCode(signal));
    },
  );
  if (role === 'worker' || role === 'all') service.log.info({ role }, 'worker started');
  if (service.inboundPort !== undefined) service.log.info({ port: service.inboundPort }, 'inbound listener running');
  if (service.app) service.log.info(`Paperboy is running at ${config.publicUrl}${!config.smtpUrl && isLoopbackHost(config.host) ? ' (captured mail: /dev/mail)' : ''}`);
}

async function send(config: Config, day: string): Promise<number> {
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
async function deliverDueCommand(config: Config, at: Date): Promise<number> {
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

async function ingest(config: Config, days: string[]): Promise<number> {
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

async function status(config: Config, day: string | undefined): Promise<void> {
  await withDatabase(config, async (db) => {
    const subscribers = await countSubscribersByStatus(db);
    console.log('Subscribers:', Object.entries(subscribers).map(([k, v]) => `${k} ${v}`).join(', '));
    const reports = await findEditionReports(db, { date: day, limit: day ? 1 : 5 });
    if (reports.length === 0) console.log(day ? `No edition for ${day}.` : 'No editions yet.');
    for (const report of reports) console.log(formatEditionReport(report));
  });
}

/** Puts the unknown rows back in the queue, reopens the edition and sends like `send` does. */
async function resendUnknown(config: Config, day: string): Promise<number> {
  const { requeueUnknownDeliveries } = await import('./delivery/delivery.repository.ts');
  const { findSendRunByEdition, reopenRun } = await import('./delivery/send-run.repository.ts');
  const requeued = await withDatabase(config, (db) =>
    db.transaction().execute(async (trx) => {
      const edition = await findEditionByDate(trx, 'daily', day);
      if (!edition) return `No edition for ${day}.`;
      const run = await findSendRunByEdition(trx, edition.id);
      if (!run || run.status !== 'sent') return `Edition ${edition.id} is ${run?.status ?? edition.status}; re-send its unknown deliveries once it has finished.`;
      const n = await requeueUnknownDeliveries(trx, run.id);
      await reopenRun(trx, run.id);
      return n;
    }),
  );
  if (typeof requeued === 'string') {
    console.error(requeued);
    return 1;
  }
  console.log(`${requeued} deliveries are queued again; sending.`);
  return send(config, day);
}

async function resume(config: Config, day: string): Promise<number> {
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

async function subscribersCommand(
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

const UNKNOWN_RISK = {
  'mark-sent':
    'Marking them sent sends nothing. Do it when the relay\'s logs show it accepted these Message-IDs; otherwise these readers miss this edition.',
  resend:
    'Re-sending sends each of them again. Any message the relay had in fact accepted arrives twice (with the same Message-ID, which some mail programs use to hide the copy).',
};

/** `paperboy unknown`: the operator's way out of `unknown`, always with the risk spelled out. */
async function unknownDeliveries(config: Config, day: string, action: 'list' | 'mark-sent' | 'resend', yes: boolean): Promise<number> {
  const { findUnknownDeliveries, markUnknownDeliveriesSent } = await import('./delivery/delivery.repository.ts');
  const { findSendRunByEdition } = await import('./delivery/send-run.repository.ts');
  const outcome = await withDatabase(config, async (db) => {
    const edition = await findEditionByDate(db, 'daily', day);
    if (!edition) {
      console.error(`No edition for ${day}.`);
      return 1;
    }
    const run = await findSendRunByEdition(db, edition.id);
    const rows = run ? await findUnknownDeliveries(db, run.id) : [];
    if (rows.length === 0) {
      console.log(`Edition ${edition.id} (${day}) has no unknown deliveries.`);
      return 0;
    }
    console.log(`Edition ${edition.id} (${day}): ${rows.length} deliveries are unknown; the relay may or may not have accepted them.`);
    for (const r of rows.slice(0, 200)) {
      console.log(`  ${r.email}  ${r.messageId ?? '-'}  attempts ${r.attempts}  ${r.updatedAt.toISOString()}  ${r.reason ?? ''}`);
    }
    if (rows.length > 200) console.log(`  … and ${rows.length - 200} more`);
    if (action === 'list') {
      console.log(`Look the Message-IDs up in the relay's logs, then:\n  paperboy unknown --date ${day} --mark-sent --yes   ${UNKNOWN_RISK['mark-sent']}\n  paperboy unknown --date ${day} --resend --yes      ${UNKNOWN_RISK.resend}`);
      return 0;
    }
    console.log(UNKNOWN_RISK[action]);
    if (!yes) {
      console.error(`Nothing changed: add --yes to ${action === 'resend' ? 're-send' : 'mark sent'} these ${rows.length} deliveries.`);
      return 2;
    }
    if (action === 'mark-sent') {
      console.log(`${await markUnknownDeliveriesSent(db, run!.id)} deliveries marked sent.`);
      return 0;
    }
    return 'resend' as const;
  });
  if (outcome !== 'resend') return outcome;
  return resendUnknown(config, day);
}

async function doctor(config: Config, values: { 'relay-ip'?: string; dns?: string }): Promise<number> {
  const relayIp = values['relay-ip'];
  if (relayIp !== undefined && isIP(relayIp) === 0) throw new UsageError(`--relay-ip must be an IPv4 or IPv6 address, got "${relayIp}"`);
  const resolver = new Resolver({ timeout: 5000, tries: 2 });
  if (values.dns !== undefined) {
    try {
      resolver.setServers([values.dns]);
    } catch {
      throw new UsageError(`--dns must be an address with an optional port, such as 127.0.0.1:53, got "${values.dns}"`);
    }
  }
  const checks = await runDoctor(config, { resolver, relayIp });
  process.stdout.write(formatDoctorReport(checks));
  return checks.every((c) => c.ok) ? 0 : 1;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    console.log(usage);
    return command ? 0 : 2;
  }
  const { values, positionals } = parseArgs({
    args: rest,
    options: {
      date: { type: 'string' },
      at: { type: 'string' },
      out: { type: 'string' },
      days: { type: 'string' },
      'already-consented': { type: 'boolean' },
      'consent-note': { type: 'string' },
      'mark-sent': { type: 'boolean' },
      resend: { type: 'boolean' },
      yes: { type: 'boolean' },
      'relay-ip': { type: 'string' },
      dns: { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  });
  const config = loadConfig();
  switch (command) {
    case 'all':
    case 'api':
    case 'worker':
    case 'inbound':
      if (command === 'inbound' && !config.bounce) throw new UsageError('inbound needs BOUNCE_DOMAIN (the domain whose MX points at this listener)');
      await runService(config, command);
      return -1; // keeps running
    case 'migrate':
      await withDatabase(config, async () => console.log('Database is migrated to the latest schema.'), true);
      return 0;
    case 'import': {
      const file = positionals[0];
      if (!file) throw new UsageError('import needs a FILE');
      const summary = await withDatabase(config, (db) => importPapersFile(db, path.resolve(file)), true);
      for (const item of summary.invalid) console.error(`item ${item.index} skipped: ${item.reason}`);
      for (const item of summary.rejected) console.error(`paper ${item.arxivId} skipped: ${item.reason}`);
      console.log(`${summary.items} items: ${summary.inserted} new, ${summary.updated} updated, ${summary.invalid.length + summary.rejected.length} invalid`);
      return 0;
    }
    case 'ingest': {
      const days = values.days === undefined ? 1 : Number(values.days);
      if (!Number.isInteger(days) || days < 1 || days > 31) throw new UsageError('--days must be a whole number from 1 to 31');
      const last = values.date === undefined ? utcDayOf(new Date()) : requireDay(values.date);
      return ingest(config, daysToPoll(startOfUtcDay(last), days));
    }
    case 'send':
      return send(config, requireDay(values.date));
    case 'deliver-due': {
      const at = values.at === undefined ? new Date() : new Date(values.at);
      if (values.at !== undefined && (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(values.at) || Number.isNaN(at.getTime()))) {
        throw new UsageError('--at must be an instant such as 2025-12-27T07:00:00Z');
      }
      return deliverDueCommand(config, at);
    }
    case 'status':
      if (values.date !== undefined) requireDay(values.date);
      await status(config, values.date);
      return 0;
    case 'resume':
      return resume(config, requireDay(values.date));
    case 'unknown': {
      const day = requireDay(values.date);
      if (values['mark-sent'] && values.resend) throw new UsageError('choose one of --mark-sent and --resend');
      return unknownDeliveries(config, day, values['mark-sent'] ? 'mark-sent' : values.resend ? 'resend' : 'list', values.yes === true);
    }
    case 'preview': {
      const day = requireDay(values.date);
      const preview = await withDatabase(config, (db) =>
        previewDailyEdition(db, day, { publicUrl: config.publicUrl, maxPapers: config.digestMaxPapers }),
      );
      if (preview.papers.length === 0) {
        console.error(`No papers were featured on ${day}.`);
        return 1;
      }
      if (values.out) {
        const { writeFile } = await import('node:fs/promises');
        await writeFile(values.out, preview.html);
        console.log(`Wrote ${values.out} (${preview.papers.length} papers, ${Buffer.byteLength(preview.html)} bytes of HTML)`);
      } else process.stdout.write(preview.html);
      return 0;
    }
    case 'subscribers':
      return subscribersCommand(config, positionals, values);
    case 'doctor':
      return doctor(config, values);
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

const isEntryPoint = process.argv[1] && import.meta.filename === path.resolve(process.argv[1]);
if (isEntryPoint) {
  main(process.argv.slice(2)).then(
    (code) => {
      if (code >= 0) process.exit(code);
    },
    (error: unknown) => {
      if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
        console.error(`paperboy: ${(error as Error).message}\n\n${usage}`);
        process.exit(2);
      }
      if (error instanceof ConfigError || error instanceof ImportFileError || error instanceof NotMigratedError || error instanceof DomainError) {
        console.error(`paperboy: ${error.message}`);
        process.exit(2);
      }
      console.error('paperboy:', error);
      process.exit(1);
    },
  );
}
