import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInboundListener, type InboundListener, type ListenerSettings } from '../../src/inbound/listener.ts';
import { startReportProcessor, type ReportProcessor } from '../../src/inbound/processor.ts';
import { createLogger } from '../../src/logger.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { dsnFor, seedSentDeliveries } from '../helpers/inbound-seed.ts';
import { openSmtpSession, type SmtpSession } from '../helpers/smtp-client.ts';
import { waitFor } from '../helpers/wait-for.ts';

const DOMAIN = 'bounces.papers.example.test';

describe('inbound listener under a flood: limits per connecting address, many senders at once, clients that vanish', () => {
  let t: TestDatabase;
  let processor: ReportProcessor;
  const listeners: InboundListener[] = [];
  const verp = { local: 'bounces', domain: DOMAIN, secrets: [randomBytes(32).toString('hex')] };
  const log = createLogger('silent');
  const start = async (overrides: Partial<ListenerSettings>) => {
    const settings: ListenerSettings = { port: 0, host: '127.0.0.1', maxBytes: 1024 * 1024, rateLimits: [{ max: 1000, windowMs: 60_000 }], verp, ...overrides };
    const listener = await startInboundListener({ db: t.db, log, onStored: () => processor.kick() }, settings);
    listeners.push(listener);
    return listener;
  };
  const reports = async () => Number((await t.db.selectFrom('inbound_reports').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()).n);

  beforeAll(async () => {
    t = await createTestDatabase();
    processor = startReportProcessor({ db: t.db, log, verp, softBounceLimit: 3, softBounceDays: 7 }, { sweepMs: 60_000, rawRetentionMs: 86_400_000 });
  });
  afterAll(async () => {
    for (const listener of listeners) await listener.close();
    await processor?.stop();
    await t?.drop();
  });

  it('messages past the rate limit of one address get 421 and are not stored; another address is still served', async () => {
    const listener = await start({ rateLimits: [{ max: 5, windowMs: 60_000 }] });
    const rows = (await seedSentDeliveries(t.db, 7, '2025-12-20')).rows;
    const before = await reports();
    const session = await openSmtpSession(listener.port);
    const codes: number[] = [];
    for (const row of rows.slice(0, 6)) {
      const { returnPath, raw } = dsnFor(verp, row);
      const result = await session.send({ from: '', to: [returnPath] }, raw);
      codes.push(result.data?.code ?? result.mail.code);
    }
    await session.close();
    expect(codes).toEqual([250, 250, 250, 250, 250, 421]);
    expect(await reports()).toBe(before + 5);
    const other = await openSmtpSession(listener.port, { localAddress: '127.0.0.2' });
    const { returnPath, raw } = dsnFor(verp, rows[6]!);
    expect((await other.send({ from: '', to: [returnPath] }, raw)).data?.code).toBe(250);
    await other.close();
  });

  it('connections past the limit of one address are refused with 421 at the greeting; others and later ones are served', async () => {
    const listener = await start({ maxConnectionsPerIp: 3 });
    const open: SmtpSession[] = [];
    for (let i = 0; i < 3; i++) open.push(await openSmtpSession(listener.port));
    await expect(openSmtpSession(listener.port)).rejects.toThrow(/no SMTP greeting: 421 .*Too many connections/);
    const other = await openSmtpSession(listener.port, { localAddress: '127.0.0.2' });
    expect(other.ehlo.code).toBe(250);
    await other.close();
    await open.pop()!.close();
    const again = await waitFor(() => openSmtpSession(listener.port).catch(() => undefined), { what: 'a slot freed by the closed connection' });
    expect(again.ehlo.code).toBe(250);
    for (const session of [...open, again]) await session.close();
  });

  it('30 senders at once, one DSN each: every one answered 250 after it is stored, and every one processed', async () => {
    const listener = await start({});
    const rows = (await seedSentDeliveries(t.db, 30, '2025-12-21')).rows;
    const results = await Promise.all(
      rows.map(async (row) => {
        const session = await openSmtpSession(listener.port);
        try {
          const { returnPath, raw } = dsnFor(verp, row, 'outlook-hard.eml');
          return (await session.send({ from: '', to: [returnPath] }, raw)).data?.code;
        } finally {
          await session.close();
        }
      }),
    );
    expect(results).toEqual(rows.map(() => 250));
    const ids = rows.map((r) => r.deliveryId);
    await waitFor(async () => (await t.db.selectFrom('deliveries').select('id').where('id', 'in', ids).where('status', '=', 'bounced').execute()).length === 30, { what: 'all 30 bounced' });
  });

  it('a client that vanishes in the middle of a message or talks nonsense stores nothing and does not stop the listener', async () => {
    const listener = await start({});
    const [row] = (await seedSentDeliveries(t.db, 1, '2025-12-22')).rows;
    const { returnPath, raw } = dsnFor(verp, row!);
    const before = await reports();
    await new Promise<void>((resolve) => {
      const socket = connect(listener.port, '127.0.0.1');
      let step = 0;
      socket.on('data', () => {
        const lines = ['EHLO x\r\n', `MAIL FROM:<>\r\n`, `RCPT TO:<${returnPath}>\r\n`, 'DATA\r\n', `${raw.slice(0, 300)}`];
        if (step < lines.length) socket.write(lines[step++]!);
        if (step === lines.length) {
          step++;
          setImmediate(() => socket.destroy());
        }
      });
      socket.on('close', () => resolve());
    });
    const nonsense = await openSmtpSession(listener.port);
    const garbage = await nonsense.send({ from: 'not an address at all <<>>', to: [] }, '');
    expect(garbage.mail.code).toBeGreaterThanOrEqual(500);
    await nonsense.close();
    expect(await reports()).toBe(before);
    const session = await openSmtpSession(listener.port);
    expect((await session.send({ from: '', to: [returnPath] }, raw)).data?.code).toBe(250);
    await session.close();
    expect(await reports()).toBe(before + 1);
  });
});
