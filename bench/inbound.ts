/**
 * `npm run bench -- inbound [N]`: N (default 1,000) DSNs for N sent digests, each scenario in a
 * fresh database.
 * 1. processing only: the reports stored as the listener stores them, then the processor
 *    (src/inbound/processor.ts) in this process works through them;
 * 2. end to end over SMTP to `paperboy inbound` (a child process), in the two shapes a relay
 *    delivers bounces: many DSNs per connection (an MTA's connection cache, 4 connections), and one
 *    DSN per connection (20 connections at a time, Postfix's default destination concurrency);
 * 3. the same with two listeners (the bounce domain's two MX) and one of them killed with SIGKILL
 *    part-way: senders retry what was not answered 250 on the other MX, as MTAs do, and every
 *    delivery must end bounced or failed exactly once.
 * Target (issue #11): 1,000 DSNs accepted and processed in under 10 s, none lost. Exits 1 when missed.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import os from 'node:os';
import { sql } from 'kysely';
import { createLogger } from '../src/logger.ts';
import { cpuSecondsOf } from './process-stats.ts';
import { storeReports } from '../src/inbound/inbound-report.repository.ts';
import { startReportProcessor } from '../src/inbound/processor.ts';
import { createTestDatabase, type TestDatabase } from '../test/helpers/db.ts';
import { dsnFor, seedSentDeliveries } from '../test/helpers/inbound-seed.ts';
import { openSmtpSession, type SmtpSession } from '../test/helpers/smtp-client.ts';
import { spawnPaperboy, type WorkerProcess } from '../test/helpers/worker-process.ts';
import { deleteQueuePrefix } from '../test/helpers/service.ts';

const n = Number(process.argv.slice(3).find((a) => /^\d+$/.test(a)) ?? 1000);
// Scenario names after the count run only those: processing, many, one, kill.
const only = process.argv.slice(3).filter((a) => /^[a-z]+$/.test(a));
const wanted = (name: string) => only.length === 0 || only.includes(name);
const TARGET_MS = 10_000;
const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const DOMAIN = 'bounces.bench.example.test';
const secret = randomBytes(32).toString('hex');
const verp = { local: 'bounces', domain: DOMAIN, secrets: [secret] };
const files = ['gmail-hard.eml', 'outlook-hard.eml', 'postfix-soft.eml', 'exim-hard.eml', 'yahoo-hard.eml'];
const missed: string[] = [];

const count = async (t: TestDatabase, pending: boolean) =>
  Number(
    (await t.db.selectFrom('inbound_reports').select((eb) => eb.fn.countAll<string>().as('n')).where('processed_at', pending ? 'is' : 'is not', null).executeTakeFirstOrThrow()).n,
  );
const waitDone = async (t: TestDatabase) => {
  while ((await count(t, true)) > 0) await new Promise((r) => setTimeout(r, 20));
};
const cpuSeconds = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1e6;
const load = () => os.loadavg().map((l) => l.toFixed(1)).join(' ');

console.log(`Inbound benchmark: ${n.toLocaleString('en')} DSNs (${files.join(', ')} in turn); ${os.availableParallelism()} cores (${os.cpus()[0]?.model.trim()}), node ${process.version}, load ${load()}`);

// 1. Processing only.
if (wanted('processing')) {
  const t = await createTestDatabase();
  try {
    const { rows } = await seedSentDeliveries(t.db, n);
    const reports = rows.map((row, i) => {
      const { returnPath, raw } = dsnFor(verp, row, files[i % files.length]);
      return { source: 'smtp' as const, remoteIp: '192.0.2.1', envelopeFrom: '', recipient: returnPath, purpose: 'bounce' as const, deliveryId: row.deliveryId, raw: Buffer.from(raw, 'latin1') };
    });
    for (let i = 0; i < reports.length; i += 500) await storeReports(t.db, reports.slice(i, i + 500));
    const cpu = process.cpuUsage();
    const started = performance.now();
    const processor = startReportProcessor({ db: t.db, log: createLogger('silent'), verp, softBounceLimit: 3, softBounceDays: 7 }, { sweepMs: 60_000, rawRetentionMs: 30 * 86_400_000 });
    await waitDone(t);
    const ms = performance.now() - started;
    await processor.stop();
    const cpuS = cpuSeconds(process.cpuUsage(cpu));
    console.log(`processing only: ${n} reports in ${(ms / 1000).toFixed(2)} s = ${Math.round(n / (ms / 1000))}/s; CPU of this process ${cpuS.toFixed(2)} s (${((cpuS / n) * 1000).toFixed(2)} ms per report)`);
  } finally {
    await t.drop();
  }
}

interface Shape {
  label: string;
  connections: number;
  /** Messages per connection before it is closed (1: a connection per DSN). */
  perConnection: number;
  listeners: 1 | 2;
  /** Kill the first listener with SIGKILL once this share of the reports is processed. */
  killAt?: number;
}

if (wanted('many')) await endToEnd({ label: 'many DSNs per connection (4 connections)', connections: 4, perConnection: Infinity, listeners: 1 });
if (wanted('one')) await endToEnd({ label: 'one DSN per connection (20 at a time)', connections: 20, perConnection: 1, listeners: 1 });
if (wanted('kill')) await endToEnd({ label: 'two MX, one killed -9 part-way (4 connections, many DSNs each)', connections: 4, perConnection: Infinity, listeners: 2, killAt: 0.4 });
if (missed.length > 0) {
  console.log(`missed: ${missed.join('; ')}`);
  process.exit(1);
}

async function endToEnd(shape: Shape) {
  const t = await createTestDatabase();
  const prefix = `pbbench-${randomBytes(4).toString('hex')}`;
  const ports: number[] = [];
  for (let i = 0; i < shape.listeners; i++) ports.push(await freePort());
  // INBOUND_SWEEP_SECONDS 2: a killed listener's uncommitted batch is picked up by the other's sweep
  // (or its next kick); the default 30 s would only lengthen the tail of scenario 3.
  const children: WorkerProcess[] = ports.map((port) =>
    spawnPaperboy(
      { NODE_ENV: 'test', DATABASE_URL: t.url, REDIS_URL: redisUrl, QUEUE_PREFIX: prefix, SECRET: secret, BOUNCE_DOMAIN: DOMAIN, INBOUND_PORT: String(port), INBOUND_HOST: '127.0.0.1', LOG_LEVEL: 'warn', INBOUND_RATE_LIMIT: '100000/1m', INBOUND_SWEEP_SECONDS: '2' },
      ['inbound'],
    ),
  );
  // A listener that dies by itself (not the one this scenario kills) is a crash: show why.
  let killing = false;
  let finished = false;
  children.forEach((c, i) =>
    void c.exited.then(({ code, signal }) => {
      if (!(killing && i === 0) && !finished) console.log(`paperboy inbound ${i} exited by itself (${code ?? signal}): ${c.output()}`);
    }),
  );
  try {
    const { rows } = await seedSentDeliveries(t.db, n);
    for (const [i, port] of ports.entries()) {
      for (;;) {
        const probe = await openSmtpSession(port).catch(() => undefined);
        if (probe) {
          await probe.close();
          break;
        }
        if (children[i]!.child.exitCode !== null) throw new Error(`paperboy inbound on port ${port} exited: ${children[i]!.output()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    // The messages are ready before the clock starts, as in an MTA's queue.
    const messages = rows.map((row, i) => dsnFor(verp, row, files[i % files.length]));
    const dead = new Set<number>();
    const queue = rows.map((_, i) => i);
    let accepted = 0;
    let refused = 0;
    let retried = 0;
    let killedAfter: number | undefined;
    const listenerCpu = () => children.reduce((sum, c) => sum + cpuSecondsOf(c.child.pid!), 0);
    let cpuAtKill = 0;
    const cpuBefore = listenerCpu();
    const senderCpu = process.cpuUsage();
    const started = performance.now();
    const killer = shape.killAt
      ? (async () => {
          while ((await count(t, false)) < n * shape.killAt!) await new Promise((r) => setTimeout(r, 10));
          dead.add(ports[0]!);
          killedAfter = performance.now() - started;
          cpuAtKill = cpuSecondsOf(children[0]!.child.pid!);
          killing = true;
          await children[0]!.kill('SIGKILL');
        })()
      : Promise.resolve();
    await Promise.all(
      Array.from({ length: shape.connections }, async (_, worker) => {
        let session: SmtpSession | undefined;
        let sent = 0;
        while (queue.length > 0) {
          const alive = ports.filter((p, i) => !dead.has(p) && children[i]!.child.exitCode === null && children[i]!.child.signalCode === null);
          if (alive.length === 0) throw new Error('no listener left running');
          const port = alive[worker % alive.length]!;
          if (!session) {
            session = await openSmtpSession(port).catch(() => undefined);
            if (!session) {
              await new Promise((r) => setTimeout(r, 20));
              continue;
            }
          }
          const i = queue.shift();
          if (i === undefined) break;
          const { returnPath, raw } = messages[i]!;
          // MTAs pipeline MAIL, RCPT and DATA (RFC 2920) when the server offers it, as this one does.
          const result = await session.send({ from: '', to: [returnPath] }, raw, { pipelining: true });
          const code = result.data?.code ?? result.rcpt[0]?.code ?? result.mail.code;
          if (code === 250) accepted++;
          else if (code >= 500) refused++;
          else {
            // No reply (the listener died) or a 4xx: the message stays with the sender, which retries it.
            retried++;
            queue.push(i);
            await session.close();
            session = undefined;
            continue;
          }
          if (++sent % shape.perConnection === 0) {
            await session.close();
            session = undefined;
          }
        }
        await session?.close();
      }),
    );
    const acceptedMs = performance.now() - started;
    await killer;
    await waitDone(t);
    const ms = performance.now() - started;
    const cpu = listenerCpu() + cpuAtKill - cpuBefore;
    const sender = cpuSeconds(process.cpuUsage(senderCpu));
    const outcome = await sql<{ bounced_or_failed: string; still_sent: string; reports: string; twice: string }>`
      select (select count(*) from deliveries where status in ('bounced', 'failed')) as bounced_or_failed,
             (select count(*) from deliveries where status = 'sent') as still_sent,
             (select count(*) from inbound_reports) as reports,
             (select count(*) from (select subscriber_id from consent_events where kind = 'bounced' group by subscriber_id having count(*) > 1) x) as twice`.execute(t.db);
    const o = outcome.rows[0]!;
    console.log(
      `end to end, ${shape.label}: ${n} DSNs accepted in ${(acceptedMs / 1000).toFixed(2)} s, all processed after ${(ms / 1000).toFixed(2)} s = ${Math.round(n / (ms / 1000))}/s; ` +
        `accepted ${accepted}, refused ${refused}, retried by the sender ${retried}${killedAfter === undefined ? '' : `, listener killed at ${(killedAfter / 1000).toFixed(2)} s`}; ` +
        `CPU: listener${shape.listeners > 1 ? 's' : ''} ${cpu.toFixed(2)} s (${((cpu / n) * 1000).toFixed(2)} ms per DSN), sender ${sender.toFixed(2)} s; ` +
        `reports stored ${o.reports}; deliveries bounced or failed ${o.bounced_or_failed}, still sent ${o.still_sent}, people bounced twice ${o.twice}; load ${load()}`,
    );
    if (ms > TARGET_MS) missed.push(`${shape.label}: ${(ms / 1000).toFixed(2)} s (target < ${TARGET_MS / 1000} s)`);
    if (accepted !== n || Number(o.bounced_or_failed) !== n || Number(o.twice) !== 0) missed.push(`${shape.label}: reports lost or applied twice`);
  } finally {
    finished = true;
    await Promise.all(children.map((child) => child.kill('SIGTERM')));
    await t.drop();
    await deleteQueuePrefix(redisUrl, prefix);
  }
}

/** A port the system has just handed out (and released), so the listener does not collide with another service. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
