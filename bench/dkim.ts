/**
 * The DKIM scenario of `npm run bench -- --dkim` (issue #11, "How it must perform"), run by
 * bench/delivery.ts right after the unsigned send, in the same run: the same readers, the same
 * edition content, the same sink and worker settings, so the rates compare. The `paperboy worker`
 * processes are restarted with DKIM_* in their environment, once with a fresh RSA-2048 key and
 * once with a fresh Ed25519 key.
 *
 * A third send, unsigned again, closes the scenario: on a shared host the load drifts, and the
 * ratios are taken against the mean of the unsigned sends before and after the signed ones.
 *
 * Each send gets a copy of the edition (same templates and papers, another date): the sink
 * keeps every digest Message-ID it saw (it finds duplicates that way) and the Message-ID names
 * the edition. The previous send's run is deleted first: the planner leaves out papers a reader
 * already received, and with the previous send on the ledger every reader would get a different,
 * smaller selection. After the last send the ledger again says each reader received these papers
 * once, as after the unsigned send, so a scenario that follows (--personal) plans alike.
 */
import { generateKeyPairSync } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { sql } from 'kysely';
// The package's main entry loads undici 8, which needs Node 22; the verifier alone does not.
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import type { AppServices } from '../src/app/services.ts';
import type { Config } from '../src/config.ts';
import type { Database } from '../src/db/database.ts';
import { countDeliveriesByStatus } from '../src/delivery/delivery.repository.ts';
import { preferencesUrl, unsubscribeUrl } from '../src/delivery/digest-message.ts';
import { assembleSignedDigestParts, compileDigestMime } from '../src/delivery/digest-mime.ts';
import { DkimSigner, dkimDnsRecord } from '../src/delivery/dkim.ts';
import { planRun } from '../src/delivery/planner.ts';
import { ensureSendRun, findSendRunById } from '../src/delivery/send-run.repository.ts';
import { findEditionById } from '../src/editions/edition.repository.ts';
import { createSubscriberToken } from '../src/subscribers/tokens.ts';
import { cpuSecondsOf, machineCpuSeconds, memoryOf } from './process-stats.ts';

type SinkMessage = { type: string; [key: string]: unknown };
export interface DkimContext {
  db: Database;
  config: Config;
  services: AppServices;
  sink: { child: ChildProcess; ask(type: string, extra?: Record<string, unknown>): Promise<SinkMessage> };
  /** Starts the worker processes with these variables added and resolves once they are registered. */
  startWorkers(extraEnv: Record<string, string>): Promise<ChildProcess[]>;
  stopWorkers(): Promise<unknown>;
  /** The unsigned send just measured: its edition and run, and its figures. */
  editionId: number;
  runId: number;
  unsigned: { sendRate: number; workerCpuMicrosPerMessage: number; sent: number };
  log(line: string): void;
}

/** The targets of issue #11: signed send rate against the unsigned one, same run. */
const TARGETS = { rsa: 0.5, ed25519: 0.8 } as const;
type KeyType = keyof typeof TARGETS;
type SendKind = KeyType | 'unsigned';
const LABEL: Record<SendKind, string> = { rsa: 'RSA-2048', ed25519: 'Ed25519', unsigned: 'unsigned again' };

const ms = (t0: number) => performance.now() - t0;
const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

function freshKey(type: KeyType): string {
  const pair = type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ed25519');
  return pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** A copy of the edition's content under another date (and so another id). */
async function copyEdition(db: Database, editionId: number, date: string): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const { rows } = await sql<{ id: number }>`
      insert into editions (kind, digest_date, status, paper_ids, subject, html_template, text_template, top_pool, trending_pool)
      select kind, ${date}::date, status, paper_ids, subject, html_template, text_template, top_pool, trending_pool
      from editions where id = ${editionId} returning id`.execute(trx);
    const id = Number(rows[0]!.id);
    await sql`insert into edition_papers (edition_id, position, section, arxiv_id, upvotes, comments)
      select ${id}, position, section, arxiv_id, upvotes, comments from edition_papers where edition_id = ${editionId}`.execute(trx);
    return id;
  });
}

/**
 * Assembly and signing of one message in this process (the two personal tokens, the splice,
 * the body hash from the cloned prefix state, the signature), as the worker does it per message,
 * 40 at a time. CPU is the whole process's (RSA signs on libuv's thread pool). Also checks that
 * what is signed verifies (mailauth, the public key served by a stub resolver).
 */
async function measureInProcess(ctx: DkimContext, keyType: KeyType | 'unsigned', pem?: string): Promise<{ wallMicros: number; cpuMicros: number; verified: string }> {
  const { config } = ctx;
  const edition = (await findEditionById(ctx.db, ctx.editionId))!;
  const context = { publicUrl: config.publicUrl, mailFrom: config.mailFrom, listId: config.listId };
  const selector = 'bench';
  const domain = config.mailFrom.address.slice(config.mailFrom.address.indexOf('@') + 1);
  const signer = pem ? new DkimSigner({ domain, keys: [{ selector, privateKey: pem }] }) : undefined;
  const compiled = compileDigestMime(edition, context, { dotStuffed: true, ...(signer ? { dkim: signer } : {}) });
  const message = (i: number) =>
    assembleSignedDigestParts(compiled, {
      subscriberId: i,
      email: `reader${i}@example.org`,
      values: {
        UNSUBSCRIBE_URL: unsubscribeUrl(config.publicUrl, createSubscriberToken(config.secret, 'unsubscribe', i, 1)),
        PREFERENCES_URL: preferencesUrl(config.publicUrl, createSubscriberToken(config.secret, 'preferences', i, 1)),
      },
    });
  const rounds = keyType === 'rsa' ? 2_000 : keyType === 'ed25519' ? 5_000 : 20_000;
  for (let i = 1; i <= 200; i++) await message(i);
  const started = performance.now();
  const cpu = process.cpuUsage();
  let next = 0;
  await Promise.all(Array.from({ length: 40 }, async () => {
    while (next < rounds) await message(++next);
  }));
  const used = process.cpuUsage(cpu);
  const wallMicros = (ms(started) * 1000) / rounds;
  let verified = 'unsigned';
  if (pem) {
    const raw = Buffer.concat((await message(1))!.parts).toString('latin1').replace(/\r\n\.\./g, '\r\n.');
    const record = dkimDnsRecord(pem);
    const resolver = async (name: string, type: string) => {
      if (type === 'TXT' && name === `${selector}._domainkey.${domain}`) return [[record]];
      throw Object.assign(new Error(`no ${type} record for ${name}`), { code: 'ENOTFOUND' });
    };
    const result = await dkimVerify(Buffer.from(raw, 'latin1'), { resolver });
    verified = result.results.map((r) => r.status.result).join(',');
  }
  return { wallMicros, cpuMicros: (used.user + used.system) / rounds, verified };
}

interface SignedSend {
  keyType: SendKind;
  sendRate: number;
  workerCpuMicrosPerMessage: number;
  sinkCpuMicrosPerMessage: number;
  everythingElseCpuSeconds: number;
  workerPeakRssMB: number;
  sent: number;
  signedAtSink: number;
  accepted: number;
  duplicates: number;
  failedOrUnknown: number;
  inProcess: { wallMicros: number; cpuMicros: number; verified: string };
}

async function sendCopy(ctx: DkimContext, keyType: SendKind, editionId: number, previousRunId: number): Promise<SignedSend & { runId: number }> {
  const { db, log } = ctx;
  const pem = keyType === 'unsigned' ? undefined : freshKey(keyType);
  const inProcess = await measureInProcess(ctx, keyType, pem);
  await sql`delete from send_runs where id = ${previousRunId}`.execute(db);
  // The unsigned send started on a ledger without dead rows; so does this one.
  await sql`vacuum analyze deliveries`.execute(db);
  const run = await ensureSendRun(db, editionId);
  await ctx.sink.ask('reset');
  const workers = await ctx.startWorkers(
    pem
      ? {
          DKIM_DOMAIN: ctx.config.mailFrom.address.slice(ctx.config.mailFrom.address.indexOf('@') + 1),
          DKIM_SELECTOR: 'bench',
          DKIM_PRIVATE_KEY: pem.replace(/\n/g, '\\n'),
        }
      : {},
  );
  const workerCpu = () => workers.reduce((total, w) => total + cpuSecondsOf(w.pid!), 0);
  const before = { worker: workerCpu(), sink: cpuSecondsOf(ctx.sink.child.pid!), machine: machineCpuSeconds() };
  // As in the unsigned send: the workers are up, planning runs here while they send.
  await planRun(ctx.services.delivery, run.id);
  let peak = 0;
  let lastLog = performance.now();
  for (;;) {
    for (const w of workers) peak = Math.max(peak, memoryOf(w.pid!).peak);
    if ((await findSendRunById(db, run.id))?.status === 'sent') break;
    const exited = workers.find((w) => w.exitCode !== null);
    if (exited) throw new Error(`a worker exited with ${exited.exitCode}`);
    if (performance.now() - lastLog > 5_000) {
      log(`  ${LABEL[keyType]}: ${fmt((await ctx.sink.ask('stats')).accepted as number)} accepted`);
      lastLog = performance.now();
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const worker = workerCpu() - before.worker;
  const sinkCpu = cpuSecondsOf(ctx.sink.child.pid!) - before.sink;
  const machine = machineCpuSeconds() - before.machine;
  const stats = await ctx.sink.ask('stats');
  await ctx.stopWorkers();
  const counts = await countDeliveriesByStatus(db, run.id);
  const sinkSeconds = ((stats.lastAt as number) - (stats.firstAt as number)) / 1000;
  const sendRate = (stats.accepted as number) / sinkSeconds;
  log(`  ${LABEL[keyType]}: ${fmt(sendRate)} msg/s, worker ${fmt((worker * 1e6) / Math.max(1, counts.sent))} µs CPU/message`);
  return {
    runId: run.id,
    keyType,
    sendRate,
    workerCpuMicrosPerMessage: (worker * 1e6) / Math.max(1, counts.sent),
    sinkCpuMicrosPerMessage: (sinkCpu * 1e6) / Math.max(1, counts.sent),
    everythingElseCpuSeconds: machine - worker - sinkCpu,
    workerPeakRssMB: Math.round(peak / 1048576),
    sent: counts.sent,
    signedAtSink: stats.signed as number,
    accepted: stats.accepted as number,
    duplicates: stats.duplicates as number,
    failedOrUnknown: counts.failed + counts.unknown,
    inProcess,
  };
}

export async function runDkimScenario(ctx: DkimContext): Promise<Record<string, string | number>> {
  const { log } = ctx;
  log('');
  log(`DKIM scenario: the same edition to the same ${fmt(ctx.unsigned.sent)} readers, signed by the workers with a fresh RSA-2048 key, then a fresh Ed25519 key, then unsigned again`);
  const unsignedInProcess = await measureInProcess(ctx, 'unsigned');
  const sends: SignedSend[] = [];
  let previousRunId = ctx.runId;
  for (const [i, keyType] of (['rsa', 'ed25519', 'unsigned'] as const).entries()) {
    const editionId = await copyEdition(ctx.db, ctx.editionId, `2024-12-${26 + i}`);
    const send = await sendCopy(ctx, keyType, editionId, previousRunId);
    previousRunId = send.runId;
    sends.push(send);
  }
  const [rsa, ed, again] = sends as [SignedSend, SignedSend, SignedSend];
  // The load of a shared host drifts: the signed sends are compared with both unsigned ones.
  const unsignedRate = (ctx.unsigned.sendRate + again.sendRate) / 2;

  const results: Record<string, string | number> = {
    scenario: 'dkim',
    unsignedSendMessagesPerSecond: Math.round(ctx.unsigned.sendRate),
    unsignedAgainSendMessagesPerSecond: Math.round(again.sendRate),
    unsignedMeanSendMessagesPerSecond: Math.round(unsignedRate),
    unsignedWorkerCpuMicrosPerMessage: ctx.unsigned.workerCpuMicrosPerMessage,
    unsignedAgainWorkerCpuMicrosPerMessage: Math.round(again.workerCpuMicrosPerMessage),
    unsignedAgainEverythingElseCpuSeconds: Number(again.everythingElseCpuSeconds.toFixed(1)),
    unsignedInProcessCpuMicrosPerMessage: Number(unsignedInProcess.cpuMicros.toFixed(1)),
    unsignedAgainSent: again.sent,
    unsignedAgainDuplicates: again.duplicates,
  };
  for (const s of [rsa, ed]) {
    const key = s.keyType;
    results[`${key}SendMessagesPerSecond`] = Math.round(s.sendRate);
    results[`${key}RatioToUnsigned`] = Number((s.sendRate / unsignedRate).toFixed(3));
    results[`${key}WorkerCpuMicrosPerMessage`] = Math.round(s.workerCpuMicrosPerMessage);
    results[`${key}SinkCpuMicrosPerMessage`] = Math.round(s.sinkCpuMicrosPerMessage);
    results[`${key}EverythingElseCpuSeconds`] = Number(s.everythingElseCpuSeconds.toFixed(1));
    results[`${key}InProcessCpuMicrosPerMessage`] = Number(s.inProcess.cpuMicros.toFixed(1));
    results[`${key}InProcessWallMicrosPerMessage`] = Number(s.inProcess.wallMicros.toFixed(1));
    results[`${key}Verified`] = s.inProcess.verified;
    results[`${key}WorkerPeakRssMB`] = s.workerPeakRssMB;
    results[`${key}Sent`] = s.sent;
    results[`${key}SignedAtSink`] = s.signedAtSink;
    results[`${key}Duplicates`] = s.duplicates;
    results[`${key}FailedOrUnknown`] = s.failedOrUnknown;
  }

  const line = (what: string, value: string, target: string) => log(`${what.padEnd(52)} ${value.padStart(34)}   target ${target}`);
  log('');
  line('sending unsigned, before / after (first → last accepted)', `${fmt(ctx.unsigned.sendRate)} / ${fmt(again.sendRate)} msg/s`, '—');
  for (const s of [rsa, ed]) {
    line(`sending ${LABEL[s.keyType]}-signed`, `${fmt(s.sendRate)} msg/s = ${(s.sendRate / unsignedRate).toFixed(2)}× unsigned`, `≥ ${TARGETS[s.keyType as KeyType]}×`);
  }
  line('worker CPU per message (unsigned ×2 / RSA / Ed25519)', `${fmt(ctx.unsigned.workerCpuMicrosPerMessage)}, ${fmt(again.workerCpuMicrosPerMessage)} / ${fmt(rsa.workerCpuMicrosPerMessage)} / ${fmt(ed.workerCpuMicrosPerMessage)} µs`, '—');
  line('assemble (+ sign) in-process, CPU (unsigned/RSA/Ed)', `${fmt(unsignedInProcess.cpuMicros, 1)} / ${fmt(rsa.inProcess.cpuMicros, 1)} / ${fmt(ed.inProcess.cpuMicros, 1)} µs`, '—');
  line('sink CPU per message (RSA / Ed25519 / unsigned)', `${fmt(rsa.sinkCpuMicrosPerMessage)} / ${fmt(ed.sinkCpuMicrosPerMessage)} / ${fmt(again.sinkCpuMicrosPerMessage)} µs`, '—');
  line('everything else on the machine (RSA / Ed / unsigned)', `${fmt(rsa.everythingElseCpuSeconds, 1)} / ${fmt(ed.everythingElseCpuSeconds, 1)} / ${fmt(again.everythingElseCpuSeconds, 1)} CPU-s`, '—');
  line('worker peak RSS (RSA / Ed25519)', `${rsa.workerPeakRssMB} / ${ed.workerPeakRssMB} MB`, '—');
  line('signed at the sink / sent (RSA, Ed25519)', `${fmt(rsa.signedAtSink)} / ${fmt(rsa.sent)}, ${fmt(ed.signedAtSink)} / ${fmt(ed.sent)}`, 'all');
  line('a sample verifies (mailauth; RSA, Ed25519)', `${rsa.inProcess.verified}, ${ed.inProcess.verified}`, 'pass');
  line('duplicates / failed or unknown (RSA, Ed25519)', `${rsa.duplicates} / ${rsa.failedOrUnknown}, ${ed.duplicates} / ${ed.failedOrUnknown}`, '0');
  return results;
}

/** Whether the DKIM figures meet issue #11's targets and every signed send is whole (the bench exits 1 when not). */
export function dkimTargetsMet(r: Record<string, string | number>, subscribers: number): boolean {
  if (r.unsignedAgainSent !== subscribers || r.unsignedAgainDuplicates !== 0) return false;
  return (['rsa', 'ed25519'] as const).every(
    (k) =>
      (r[`${k}RatioToUnsigned`] as number) >= TARGETS[k] &&
      r[`${k}Sent`] === subscribers &&
      r[`${k}SignedAtSink`] === subscribers &&
      r[`${k}Duplicates`] === 0 &&
      r[`${k}FailedOrUnknown`] === 0 &&
      r[`${k}Verified`] === 'pass',
  );
}
