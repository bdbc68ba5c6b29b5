import type { Selectable } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findSendRunById } from '../../src/delivery/send-run.repository.ts';
import type { InboundReportsTable } from '../../src/inbound/inbound-report.table.ts';
import { verpAddress } from '../../src/delivery/verp.ts';
import { importPapersFile, sampleDataFile } from '../../src/papers/import-file.ts';
import { suppressionHash } from '../../src/subscribers/suppression.repository.ts';
import { bounceFixture } from '../helpers/bounce-fixtures.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { sendSmtp } from '../helpers/smtp-client.ts';
import { waitFor } from '../helpers/wait-for.ts';

const DOMAIN = 'bounces.papers.example.test';
const readers = ['gmail', 'outlook', 'yahoo', 'exim', 'soft', 'arf', 'mailto', 'delayed', 'erased', 'junk'].map((name) => `${name}.reader@example.org`);

describe('inbound listener: DSNs, complaints and mailto: unsubscribes mailed to the bounce domain', () => {
  let t: TestService;
  let port: number;
  const sent = new Map<string, { returnPath: string; messageId: string; deliveryId: number; subscriberId: number }>();

  beforeAll(async () => {
    t = await startTestService({ BOUNCE_DOMAIN: DOMAIN, INBOUND_PORT: '0', INBOUND_HOST: '127.0.0.1', INBOUND_MAX_BYTES: String(10 * 1024 * 1024) });
    port = t.service.inboundPort!;
    await importPapersFile(t.service.db, sampleDataFile);
    await t.service.db.insertInto('subscribers').values(readers.map((email) => ({ email, status: 'active' as const, confirmed_at: new Date() }))).execute();
    const { run } = await t.service.services.requestDailyDigest('2025-12-26');
    await waitFor(async () => (await findSendRunById(t.service.db, run!.id))?.status === 'sent', { what: 'run sent', timeoutMs: 30_000 });
    for (const email of readers) {
      const [digest] = t.sink.to(email);
      const row = await t.service.db
        .selectFrom('deliveries')
        .innerJoin('subscribers', 'subscribers.id', 'deliveries.subscriber_id')
        .select(['deliveries.id', 'deliveries.subscriber_id', 'deliveries.message_id'])
        .where('subscribers.email', '=', email)
        .executeTakeFirstOrThrow();
      sent.set(email, { returnPath: digest!.envelopeFrom, messageId: row.message_id!.replace(/^<|>$/g, ''), deliveryId: Number(row.id), subscriberId: Number(row.subscriber_id) });
    }
  }, 60_000);
  afterAll(async () => {
    await t?.stop();
  });

  const of = (email: string) => sent.get(email)!;
  const fixture = (file: string, email: string) => bounceFixture(file, { rcpt: email, returnPath: of(email).returnPath, messageId: of(email).messageId, feedbackTo: `bounces@${DOMAIN}` });
  const state = async (email: string) => {
    const delivery = await t.service.db.selectFrom('deliveries').select(['status', 'reason', 'enhanced_code']).where('id', '=', of(email).deliveryId).executeTakeFirst();
    const subscriber = await t.service.db.selectFrom('subscribers').select(['status', 'unsubscribe_source']).where('email', '=', email).executeTakeFirst();
    return { delivery: delivery?.status, code: delivery?.enhanced_code, subscriber: subscriber?.status, source: subscriber?.unsubscribe_source };
  };
  const processed = (where: { recipient?: string }) =>
    waitFor(
      async (): Promise<Selectable<InboundReportsTable> | undefined> => {
        let q = t.service.db.selectFrom('inbound_reports').selectAll().where('processed_at', 'is not', null);
        if (where.recipient) q = q.where('recipient', '=', where.recipient);
        return q.orderBy('id', 'desc').executeTakeFirst();
      },
      { what: `report to ${where.recipient} processed` },
    );

  it.each([
    ['gmail-hard.eml', readers[0]!, '5.1.1'],
    ['outlook-hard.eml', readers[1]!, '5.1.10'],
    ['yahoo-hard.eml', readers[2]!, null],
    ['exim-hard.eml', readers[3]!, '5.1.1'],
  ])('a hard bounce (%s) mailed to the return path bounces that delivery and suppresses the person', async (file, email, code) => {
    expect(await state(email)).toMatchObject({ delivery: 'sent', subscriber: 'active' });
    const result = await sendSmtp(port, { from: '', to: [of(email).returnPath] }, fixture(file, email));
    expect(result.rcpt.map((r) => r.code)).toEqual([250]);
    expect(result.data?.code).toBe(250);
    const report = await processed({ recipient: of(email).returnPath });
    expect(report).toMatchObject({ kind: 'hard_bounce', purpose: 'bounce', delivery_id: of(email).deliveryId });
    expect(await state(email)).toMatchObject({ delivery: 'bounced', code, subscriber: 'bounced' });
    // The same DSN again (MTAs do resend) changes nothing more.
    await sendSmtp(port, { from: '', to: [of(email).returnPath] }, fixture(file, email));
    await waitFor(async () => (await t.service.db.selectFrom('inbound_reports').select('id').where('recipient', '=', of(email).returnPath).where('processed_at', 'is not', null).execute()).length === 2);
    const events = await t.service.db.selectFrom('consent_events').select('kind').where('subscriber_id', '=', of(email).subscriberId).where('kind', '=', 'bounced').execute();
    expect(events).toHaveLength(1);
  });

  it('a soft bounce (mailbox full) fails the delivery and counts toward the soft limit, keeping the person', async () => {
    const email = readers[4]!;
    const result = await sendSmtp(port, { from: '', to: [of(email).returnPath] }, fixture('postfix-soft.eml', email));
    expect(result.data?.code).toBe(250);
    expect(await processed({ recipient: of(email).returnPath })).toMatchObject({ kind: 'soft_bounce' });
    expect(await state(email)).toMatchObject({ delivery: 'failed', code: '5.2.2', subscriber: 'active' });
    const soft = await t.service.db.selectFrom('soft_bounces').selectAll().where('subscriber_id', '=', of(email).subscriberId).executeTakeFirstOrThrow();
    expect(soft.consecutive).toBe(1);
  });

  it('a delayed DSN changes nothing', async () => {
    const email = readers[7]!;
    await sendSmtp(port, { from: '', to: [of(email).returnPath] }, fixture('postfix-delayed.eml', email));
    expect(await processed({ recipient: of(email).returnPath })).toMatchObject({ kind: 'ignored' });
    expect(await state(email)).toMatchObject({ delivery: 'sent', subscriber: 'active' });
  });

  it('an ARF complaint to the feedback address suppresses the person at once and marks the delivery complained', async () => {
    const email = readers[5]!;
    const result = await sendSmtp(port, { from: 'feedback@arf.mail.yahoo.com', to: [`bounces@${DOMAIN}`] }, fixture('arf-abuse.eml', email));
    expect(result.data?.code).toBe(250);
    const report = await processed({ recipient: `bounces@${DOMAIN}` });
    expect(report).toMatchObject({ kind: 'complaint', purpose: 'feedback', delivery_id: of(email).deliveryId });
    expect(await state(email)).toMatchObject({ delivery: 'complained', subscriber: 'complained' });
    const suppression = await t.service.db.selectFrom('suppressions').select('reason').where('address_hash', '=', suppressionHash(email)).executeTakeFirst();
    expect(suppression?.reason).toBe('complaint');
  });

  it('mail to the mailto: unsubscribe address unsubscribes at once (source mailto)', async () => {
    const email = readers[6]!;
    const settings = { ...t.config.bounce!, secrets: [t.service.config.secret] };
    const address = verpAddress(settings, 'unsubscribe', of(email).deliveryId);
    // Some MTAs lower-case or upper-case the local part: the reference is case-insensitive.
    const result = await sendSmtp(port, { from: email, to: [address.toUpperCase()] }, `From: ${email}\r\nTo: ${address}\r\nSubject: unsubscribe\r\n\r\n`);
    expect(result.data?.code).toBe(250);
    expect(await processed({ recipient: address.toUpperCase() })).toMatchObject({ kind: 'unsubscribe', purpose: 'unsubscribe' });
    expect(await state(email)).toMatchObject({ delivery: 'sent', subscriber: 'unsubscribed', source: 'mailto' });
  });

  it('refuses other domains, other local parts and forged or altered references at RCPT (no open relay)', async () => {
    const email = readers[9]!;
    const good = of(email).returnPath;
    const forged = good.replace(/\+b(.)/, (_m, c: string) => `+b${c === 'a' ? 'b' : 'a'}`);
    const result = await sendSmtp(port, { from: '', to: ['someone@example.org', `postmaster@${DOMAIN}`, `bounces+bxyz@${DOMAIN}`, forged, good.replace(DOMAIN, 'example.org')] }, 'Subject: x\r\n\r\nx');
    expect(result.rcpt.map((r) => r.code)).toEqual([550, 550, 550, 550, 550]);
    expect(result.data).toBeUndefined();
    expect(await t.service.db.selectFrom('inbound_reports').select('id').where('recipient', 'in', [forged, 'someone@example.org']).execute()).toEqual([]);
  });

  it('a 20 MB message is refused with 552 and nothing is stored', async () => {
    const email = readers[9]!;
    const before = await t.service.db.selectFrom('inbound_reports').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    const big = `Subject: big\r\n\r\n${'x'.repeat(998)}\r\n`.repeat(1).concat(`${'y'.repeat(998)}\r\n`.repeat(20 * 1024));
    const result = await sendSmtp(port, { from: '', to: [of(email).returnPath] }, big);
    expect(result.data?.code).toBe(552);
    const after = await t.service.db.selectFrom('inbound_reports').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    expect(after.n).toBe(before.n);
    expect(await state(email)).toMatchObject({ delivery: 'sent', subscriber: 'active' });
  });

  it('malformed MIME and an ARF without its original are stored, answered 250 and change nothing', async () => {
    const email = readers[9]!;
    const junk = await sendSmtp(port, { from: '', to: [of(email).returnPath] }, 'Content-Type: multipart/report; report-type=delivery-status; boundary=\r\n\r\n--\r\n\x00\x01garbage\r\n--');
    expect(junk.data?.code).toBe(250);
    expect(await processed({ recipient: of(email).returnPath })).toMatchObject({ kind: 'ignored' });
    const bare = await sendSmtp(port, { from: 'staff@hotmail.com', to: [`bounces@${DOMAIN}`] }, fixture('arf-no-original.eml', email));
    expect(bare.data?.code).toBe(250);
    const report = await waitFor(async () =>
      (await t.service.db.selectFrom('inbound_reports').selectAll().where('recipient', '=', `bounces@${DOMAIN}`).where('processed_at', 'is not', null).orderBy('id', 'desc').executeTakeFirst())?.outcome?.startsWith('not linked')
        ? true
        : false,
    );
    expect(report).toBe(true);
    expect(await state(email)).toMatchObject({ delivery: 'sent', subscriber: 'active' });
  });

  it('a bounce for a delivery of an erased person is accepted and changes nothing', async () => {
    const email = readers[8]!;
    await t.service.db.deleteFrom('subscribers').where('email', '=', email).execute();
    const result = await sendSmtp(port, { from: '', to: [of(email).returnPath] }, fixture('gmail-hard.eml', email));
    expect(result.data?.code).toBe(250);
    const report = await processed({ recipient: of(email).returnPath });
    expect(report).toMatchObject({ delivery_id: null, kind: 'hard_bounce' });
    expect(report.outcome).toMatch(/no longer exists|not linked/);
    expect(await t.service.db.selectFrom('subscribers').select('id').where('email', '=', email).execute()).toEqual([]);
  });
});
