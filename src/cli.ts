import path from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from './config.ts';
import { startOfUtcDay, utcDayOf } from './dates.ts';
import { DomainError } from './errors.ts';
import { requireDay, UsageError } from './cli/arguments.ts';

// Each command's modules are imported when it runs: a process loads what its command needs, not
// the whole service (about 1,400 modules through tsx's loader, 2 s of CPU per start), which every
// worker, `paperboy` command and usage error otherwise paid.
const commands = {
  database: () => import('./cli/database.ts'),
  doctor: () => import('./cli/doctor.ts'),
  papers: () => import('./cli/papers.ts'),
  paperJobs: () => import('./papers/paper-jobs.ts'),
  preview: () => import('./cli/preview.ts'),
  sending: () => import('./cli/sending.ts'),
  service: () => import('./cli/service.ts'),
  status: () => import('./cli/status.ts'),
  subscribers: () => import('./cli/subscribers.ts'),
  unknown: () => import('./cli/unknown-deliveries.ts'),
};

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
      await (await commands.service()).runService(config, command);
      return -1; // keeps running
    case 'migrate':
      await (await commands.database()).withDatabase(config, async () => console.log('Database is migrated to the latest schema.'), true);
      return 0;
    case 'import': {
      const file = positionals[0];
      if (!file) throw new UsageError('import needs a FILE');
      return (await commands.papers()).importPapers(config, file);
    }
    case 'ingest': {
      const days = values.days === undefined ? 1 : Number(values.days);
      if (!Number.isInteger(days) || days < 1 || days > 31) throw new UsageError('--days must be a whole number from 1 to 31');
      const last = values.date === undefined ? utcDayOf(new Date()) : requireDay(values.date);
      return (await commands.papers()).ingest(config, (await commands.paperJobs()).daysToPoll(startOfUtcDay(last), days));
    }
    case 'send':
      return (await commands.sending()).send(config, requireDay(values.date));
    case 'deliver-due': {
      const at = values.at === undefined ? new Date() : new Date(values.at);
      if (values.at !== undefined && (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(values.at) || Number.isNaN(at.getTime()))) {
        throw new UsageError('--at must be an instant such as 2025-12-27T07:00:00Z');
      }
      return (await commands.sending()).deliverDueCommand(config, at);
    }
    case 'status':
      if (values.date !== undefined) requireDay(values.date);
      await (await commands.status()).status(config, values.date);
      return 0;
    case 'resume':
      return (await commands.sending()).resume(config, requireDay(values.date));
    case 'unknown': {
      const day = requireDay(values.date);
      if (values['mark-sent'] && values.resend) throw new UsageError('choose one of --mark-sent and --resend');
      return (await commands.unknown()).unknownDeliveries(config, day, values['mark-sent'] ? 'mark-sent' : values.resend ? 'resend' : 'list', values.yes === true);
    }
    case 'preview':
      return (await commands.preview()).preview(config, requireDay(values.date), values.out);
    case 'subscribers':
      return (await commands.subscribers()).subscribersCommand(config, positionals, values);
    case 'doctor':
      return (await commands.doctor()).doctor(config, values);
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
    async (error: unknown) => {
      // Only the failing path loads these (papers/import-file.ts is most of the papers code).
      const [{ NotMigratedError }, { ImportFileError }] = await Promise.all([import('./db/migrate.ts'), import('./papers/import-file.ts')]);
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
