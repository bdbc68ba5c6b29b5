/**
 * `npm run bench -- inbound [N]`: N (default 1,000) DSNs for N sent digests, into a fresh database.
 * 1. processing only: the reports stored as the listener stores them, then the processor
 *    (src/inbound/processor.ts) in this process works through them;
 * 2. end to end: `paperboy inbound` as a child process, the DSNs mailed to it over SMTP from
 *    this process (4 connections at a time), until the last one is processed.
 * Target (issue #11): 1,000 DSNs processed in under 10 s.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { createLogger } from '../src/logger.ts';
import { storeReports } from '../src/inbound/inbound-report.repository.ts';
import { startReportProcessor } from '../src/inbound/processor.ts';
import { createTestDatabase, type TestDatabase } from '../test/helpers/db.ts';
import { dsnFor, seedSentDeliveries } from '../test/helpers/inbound-seed.ts';
import { sendSmtp } from '../test/helpers/smtp-client.ts';
import { spawnPaperboy } from '../test/helpers/worker-process.ts';
import { deleteQueuePrefix } from '../test/helpers/service.ts';

const n = Number(process.argv.slice(3).find((a) => /^\d+$/.test(a)) ?? 1000);
const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const DOMAIN = 'bounces.bench.example.test';
const secret = randomBytes(32).toString('hex');
const verp = { local: 'bounces', domain: DOMAIN, secrets: [secret] };
const files = ['gmail-hard.eml', 'outlook-hard.eml', 'postfix-soft.eml', 'exim-hard.eml', 'yahoo-hard.eml'];

const pending = async (t: TestDatabase) =>
  Number((await t.db.selectFrom('inbound_reports').select((eb) => eb.fn.countAll<string>().as('n')).where('processed_at', 'is', null).executeTakeFirstOrThrow()).n);
const waitDone = async (t: TestDatabase) => {
  while ((await pending(t)) > 0) await new Promise((r) => setTimeout(r, 20));
};
const cpuSeconds = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1e6;

console.log(`Inbound benchmark: ${n.toLocaleString('en')} DSNs (${files.join(', ')} in turn); ${os.availableParallelism()} cores (${os.cpus()[0]?.model.trim()}), node ${process.version}, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);

// 1. Processing only.
{
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
    console.log(`processing only: ${n} reports in ${(ms / 1000).toFixed(2)} s = ${Math.round(n / (ms / 1000))}/s; CPU of this process ${cpuSeconds(process.cpuUsage(cpu)).toFixed(2)} s (${((cpuSeconds(process.cpuUsage(cpu)) / n) * 1000).toFixed(2)} ms per report)`);
  } finally {
    await t.drop();
  }
}

// 2. End to end over SMTP.
{
  const t = await createTestDatabase();
  const prefix = `pbbench-${randomBytes(4).toString('hex')}`;
  const port = 20000 + Math.floor(Math.random() * 20000);
  const child = spawnPaperboy(
    { NODE_ENV: 'test', DATABASE_URL: t.url, REDIS_URL: redisUrl, QUEUE_PREFIX: prefix, SECRET: secret, BOUNCE_DOMAIN: DOMAIN, INBOUND_PORT: String(port), INBOUND_HOST: '127.0.0.1', LOG_LEVEL: 'warn', INBOUND_RATE_LIMIT: '100000/1m' },
    ['inbound'],
  );
  try {
    const { rows } = await seedSentDeliveries(t.db, n);
    // Wait for the listener's greeting.
    for (;;) {
      const probe = await sendSmtp(port, { from: '', to: [] }, '').catch(() => undefined);
      if (probe && probe.mail.code === 250) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const started = performance.now();
    let next = 0;
    let refused = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < rows.length) {
          const i = next++;
          const { returnPath, raw } = dsnFor(verp, rows[i]!, files[i % files.length]);
          const result = await sendSmtp(port, { from: '', to: [returnPath] }, raw);
          if (result.data?.code !== 250) refused++;
        }
      }),
    );
    const acceptedMs = performance.now() - started;
    await waitDone(t);
    const ms = performance.now() - started;
    const bounced = Number((await t.db.selectFrom('deliveries').select((eb) => eb.fn.countAll<string>().as('n')).where('status', 'in', ['bounced', 'failed']).executeTakeFirstOrThrow()).n);
    console.log(`end to end: ${n} DSNs over SMTP accepted in ${(acceptedMs / 1000).toFixed(2)} s, all processed after ${(ms / 1000).toFixed(2)} s = ${Math.round(n / (ms / 1000))}/s; refused ${refused}; deliveries bounced or failed ${bounced}`);
  } finally {
    await child.kill('SIGTERM');
    await t.drop();
    await deleteQueuePrefix(redisUrl, prefix);
  }
}
