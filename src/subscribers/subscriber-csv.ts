import { Readable } from 'node:stream';
import { parse, type CsvError } from 'csv-parse';
import { stringify } from 'csv-stringify';
import type { Database } from '../db/database.ts';
import { DomainError } from '../errors.ts';
import { isKnownTimeZone } from '../dates.ts';
import { emailProblemMessages, normaliseEmailAddress } from './email-address.ts';
import { ALREADY_CONSENTED, findSuppressedHashes, insertImportedSubscribers, type ImportConsent, type ImportRow } from './subscriber-import.repository.ts';
import { suppressionHash } from './suppression.repository.ts';
import { findUnsearchableTopic, parseTopics } from './topics.ts';

export type { ImportConsent };

/**
 * Spreadsheets run a cell starting with one of these as a formula (CSV injection): exported
 * cells get a leading apostrophe, which spreadsheets show as text and the import strips again.
 */
const FORMULA_START = /^[=+\-@\t\r]/;

export function neutraliseFormula(value: string): string {
  return FORMULA_START.test(value) ? `'${value}` : value;
}

const restoreNeutralised = (value: string) => (value.startsWith("'") && FORMULA_START.test(value.slice(1)) ? value.slice(1) : value);

export const EXPORT_COLUMNS = [
  'email',
  'status',
  'topics',
  'time_zone',
  'frequency',
  'created_at',
  'confirmed_at',
  'unsubscribed_at',
  'unsubscribe_source',
  'bounce_count',
  'consent_form',
  'consent_subscribed_at',
  'consent_ip',
  'consent_user_agent',
  'consent_confirmed_at',
  'consent_note',
] as const;

const EXPORT_PAGE = 5_000;

/** The operator's note of an already-consented import, from its consent event's source (subscriber-import.repository.ts). */
const importNoteOf = (source: string | null) => (source?.includes(ALREADY_CONSENTED) ? source.slice(source.indexOf(ALREADY_CONSENTED) + ALREADY_CONSENTED.length) : '');

/**
 * Every subscriber as CSV, in id order, one page of rows at a time (memory stays flat whatever
 * the list size). Consent fields are included; tokens, token versions and hashes never are.
 */
export function exportSubscribersCsv(db: Database): Readable {
  async function* rows() {
    let after = 0;
    for (;;) {
      const page = await db
        .selectFrom('subscribers')
        .select(['id', 'email', 'status', 'topics', 'time_zone', 'frequency', 'created_at', 'confirmed_at', 'unsubscribed_at', 'unsubscribe_source', 'bounce_count'])
        .where('id', '>', after)
        .orderBy('id')
        .limit(EXPORT_PAGE)
        .execute();
      // Consent fields from the history: how the person came in (the first sign-up or import) and
      // the first confirmation.
      const events = page.length === 0 ? [] : await db
        .selectFrom('consent_events')
        .select(['subscriber_id', 'kind', 'occurred_at', 'ip', 'user_agent', 'source'])
        .where('subscriber_id', 'in', page.map((s) => s.id))
        .where('kind', 'in', ['subscribed', 'imported', 'confirmed'])
        .orderBy('occurred_at')
        .orderBy('id')
        .execute();
      const cameIn = new Map<number, (typeof events)[number]>();
      const confirmed = new Map<number, Date>();
      for (const e of events) {
        if (e.kind === 'confirmed') {
          if (!confirmed.has(e.subscriber_id)) confirmed.set(e.subscriber_id, e.occurred_at);
        } else if (!cameIn.has(e.subscriber_id)) cameIn.set(e.subscriber_id, e);
      }
      for (const s of page) {
        const first = cameIn.get(s.id);
        const imported = first?.kind === 'imported';
        const c = first && {
          form: imported ? 'import' : 'web',
          subscribedAt: first.occurred_at.toISOString(),
          ip: first.ip ?? '',
          userAgent: first.user_agent ?? '',
          confirmedAt: confirmed.get(s.id)?.toISOString() ?? (imported && s.confirmed_at ? first.occurred_at.toISOString() : ''),
          consentNote: imported ? importNoteOf(first.source) : '',
        };
        const iso = (d: Date | null) => (d ? d.toISOString() : '');
        yield [
          s.email,
          s.status,
          s.topics.join(', '),
          s.time_zone,
          s.frequency,
          iso(s.created_at),
          iso(s.confirmed_at),
          iso(s.unsubscribed_at),
          s.unsubscribe_source ?? '',
          String(s.bounce_count),
          c?.form ?? '',
          c?.subscribedAt ?? '',
          c?.ip ?? '',
          c?.userAgent ?? '',
          c?.confirmedAt ?? '',
          c?.consentNote ?? '',
        ].map((cell) => neutraliseFormula(String(cell)));
      }
      if (page.length < EXPORT_PAGE) return;
      after = page[page.length - 1]!.id;
    }
  }
  return Readable.from(rows()).pipe(stringify({ header: true, columns: [...EXPORT_COLUMNS], record_delimiter: 'windows' }));
}

export interface ImportReport {
  /** Data rows read (not counting the header). */
  rows: number;
  added: number;
  /** Already stored (any state): left unchanged. */
  existing: number;
  /** Erased earlier: only their own new opt-in may bring them back. */
  suppressed: number;
  /** The same address again further down the file. */
  duplicates: number;
  invalid: { line: number; reason: string }[];
  confirmationsQueued: number;
}

export interface ImportDeps {
  db: Database;
  /** Queues the confirmation emails of new pending people (confirm mode). */
  queueConfirmations(subscriberIds: number[]): Promise<void>;
}

const IMPORT_BATCH = 2_000;
/** Reported per line up to this many; the count in `rows` still covers them all. */
const MAX_REPORTED_INVALID = 1_000;
const MAX_FIELD = 1_000;

/**
 * The topics of an imported row, checked as the sign-up form and the preference centre check them
 * (topics.ts): an imported person can then save their preferences unchanged, and nothing a form
 * would refuse (markup, SQL punctuation, a topic with nothing to search for) is stored. Semicolons
 * separate topics as commas do (spreadsheets often use them; a topic cannot contain one). Whether
 * PostgreSQL finds something to search for is asked once per distinct topic of the file.
 */
async function importedTopics(db: Database, field: string, checked: Map<string, string | undefined>): Promise<{ ok: true; topics: string[] } | { ok: false; message: string }> {
  const parsed = parseTopics(field.replaceAll(';', ','));
  if (!parsed.ok) return parsed;
  for (const topic of parsed.topics) {
    if (!checked.has(topic)) checked.set(topic, await findUnsearchableTopic(db, [topic]));
    const message = checked.get(topic);
    if (message) return { ok: false, message };
  }
  return parsed;
}

/** Distinct topics remembered per import; past this, each is asked again (a hostile file stays bounded). */
const TOPICS_REMEMBERED = 10_000;

/**
 * Imports a CSV with a header row naming at least an `email` column (`topics` and `time_zone`
 * are optional; other columns, such as those of our own export, are ignored). Rows that are not
 * an address, or whose time zone is unknown, are reported by line and skipped; addresses already
 * stored or erased are counted and left alone, so the same file imported twice changes nothing.
 *
 * `confirm` (double opt-in) stores new people as pending and queues a confirmation for each;
 * `already_consented` stores them as active with the operator's consent note on every row.
 */
export async function importSubscribersCsv(deps: ImportDeps, input: Readable | string | Buffer, consent: ImportConsent, source: string): Promise<ImportReport> {
  if (consent.kind === 'already_consented' && consent.note.trim().length === 0) {
    throw new DomainError('invalid_request', 'An already-consented import needs a consent note saying when and how these people agreed.');
  }
  const report: ImportReport = { rows: 0, added: 0, existing: 0, suppressed: 0, duplicates: 0, invalid: [], confirmationsQueued: 0 };
  const invalid = (line: number, reason: string) => {
    if (report.invalid.length < MAX_REPORTED_INVALID) report.invalid.push({ line, reason });
  };
  let invalidCount = 0;
  const at = new Date().toISOString();
  const seen = new Set<string>();
  let batch: ImportRow[] = [];

  const flush = async () => {
    const rows = batch;
    batch = [];
    if (rows.length === 0) return;
    const hashes = rows.map((r) => suppressionHash(r.email));
    const suppressed = await findSuppressedHashes(deps.db, hashes);
    const allowed = rows.filter((_r, i) => !suppressed.has(hashes[i]!.toString('hex')));
    report.suppressed += rows.length - allowed.length;
    // A person and their consent event are written together or not at all.
    const inserted = await deps.db.transaction().execute((trx) => insertImportedSubscribers(trx, allowed, consent, { at, source }));
    report.added += inserted.length;
    report.existing += allowed.length - inserted.length;
    if (consent.kind === 'confirm' && inserted.length > 0) {
      await deps.queueConfirmations(inserted.map((r) => r.id));
      report.confirmationsQueued += inserted.length;
    }
  };

  let header: string[] | undefined;
  const parser = parse({
    bom: true,
    skip_empty_lines: true,
    relax_column_count: true,
    skip_records_with_error: true,
    max_record_size: 64 * 1024,
    info: true,
    on_skip: (error: CsvError | undefined) => {
      invalidCount++;
      report.rows++;
      invalid(Number((error as { lines?: number } | undefined)?.lines ?? 0), `not valid CSV: ${error?.message ?? 'unreadable record'}`);
      return undefined;
    },
  });
  const stream = typeof input === 'string' || Buffer.isBuffer(input) ? Readable.from([input]) : input;
  stream.on('error', (error) => parser.destroy(error));
  stream.pipe(parser);

  const checkedTopics = new Map<string, string | undefined>();
  let emailAt = -1;
  let topicsAt = -1;
  let zoneAt = -1;
  for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
    const line = info.lines;
    if (!header) {
      header = record.map((h) => h.trim().toLowerCase().replace(/[\s-]+/g, '_'));
      emailAt = header.findIndex((h) => h === 'email' || h === 'email_address' || h === 'address');
      topicsAt = header.indexOf('topics');
      zoneAt = header.findIndex((h) => h === 'time_zone' || h === 'timezone');
      if (emailAt < 0) throw new DomainError('invalid_request', `The first line must be a header with an "email" column; found: ${record.slice(0, 10).join(', ').slice(0, 200) || '(nothing)'}.`);
      continue;
    }
    report.rows++;
    const field = (index: number) => (index >= 0 ? restoreNeutralised((record[index] ?? '').trim()) : '');
    const rawEmail = field(emailAt);
    if (rawEmail.length > MAX_FIELD || field(topicsAt).length > MAX_FIELD * 5) {
      invalidCount++;
      invalid(line, 'a field is too long');
      continue;
    }
    const parsed = normaliseEmailAddress(rawEmail);
    if (!parsed.ok) {
      invalidCount++;
      invalid(line, `email: ${emailProblemMessages[parsed.problem]}`);
      continue;
    }
    const zone = field(zoneAt) || 'UTC';
    if (!isKnownTimeZone(zone)) {
      invalidCount++;
      invalid(line, `time_zone: "${zone.slice(0, 60)}" is not an IANA time zone`);
      continue;
    }
    if (checkedTopics.size > TOPICS_REMEMBERED) checkedTopics.clear();
    const topics = await importedTopics(deps.db, field(topicsAt), checkedTopics);
    if (!topics.ok) {
      invalidCount++;
      invalid(line, topics.message);
      continue;
    }
    if (seen.has(parsed.address)) {
      report.duplicates++;
      continue;
    }
    seen.add(parsed.address);
    batch.push({ line, email: parsed.address, topics: topics.topics, timeZone: zone });
    if (batch.length >= IMPORT_BATCH) await flush();
  }
  if (!header) throw new DomainError('invalid_request', 'The file is empty: expected a header line with an "email" column.');
  await flush();
  // The parser reports unreadable records while rows before them are still being processed.
  report.invalid.sort((a, b) => a.line - b.line);
  if (invalidCount > report.invalid.length) report.invalid.push({ line: 0, reason: `${invalidCount - report.invalid.length} more invalid rows not listed` });
  return report;
}
