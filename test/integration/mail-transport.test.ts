import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDigestTransport, type DigestTransport } from '../../src/delivery/digest-transport.ts';
import { createSmtpMailer, type Mailer } from '../../src/delivery/mailer.ts';
import { classifySmtpError } from '../../src/delivery/smtp-errors.ts';
import { sendConfirmationEmail } from '../../src/subscribers/subscription.service.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';

const context = { publicUrl: 'https://papers.example.test', mailFrom: { name: 'Paperboy', address: 'digest@papers.example.test' }, listId: 'digest.papers.example.test' };
const edition = {
  id: 7,
  subject: 'Papers of the day',
  // A line starting with "." must survive SMTP transparency (RFC 5321 §4.5.2) on either path.
  text_template: 'Top papers\n.hidden dot line\nUnsubscribe: %%UNSUBSCRIBE_URL%%\nYour data: %%PREFERENCES_URL%%\n',
  html_template: '<p>Top papers</p>\n.<b>dot</b>\n<a href="%%UNSUBSCRIBE_URL%%">Unsubscribe</a> <a href="%%PREFERENCES_URL%%">Your data</a>\n',
};
const message = (email: string, subscriberId = 42) => ({ edition, subscriberId, email, unsubscribeToken: `u-${subscriberId}`, preferencesToken: `p-${subscriberId}` });
const envelope = (to: string) => ({ from: context.mailFrom.address, to });

describe('the digest transport: one send(envelope, message) whichever path carries it', () => {
  let sink: SmtpSink;
  let mailer: Mailer;
  const transports: Record<string, DigestTransport> = {};
  beforeAll(async () => {
    sink = await startSmtpSink();
    mailer = createSmtpMailer({ url: sink.url, maxConnections: 2 });
    transports.fast = createDigestTransport({ mailer, context, fastPath: { url: sink.url, maxConnections: 2, allowPlaintext: true } });
    transports.nodemailer = createDigestTransport({ mailer, context });
  });
  afterAll(async () => {
    for (const transport of Object.values(transports)) await transport.close();
    await mailer?.close();
    await sink?.close();
  });

  for (const path of ['fast', 'nodemailer'] as const) {
    it(`delivers the same digest through the ${path} path`, async () => {
      const to = `reader-${path}@example.org`;
      const { response } = await transports[path]!.send(envelope(to), message(to));
      expect(response).toMatch(/^250/);
      const [received] = sink.to(to);
      expect(received!.envelopeFrom).toBe('digest@papers.example.test');
      expect(received!.parsed.subject).toBe('Papers of the day');
      expect(received!.parsed.messageId).toBe('<digest.e7.s42@papers.example.test>');
      expect(received!.parsed.text).toBe(
        'Top papers\n.hidden dot line\nUnsubscribe: https://papers.example.test/u/u-42\nYour data: https://papers.example.test/p/p-42\n',
      );
      expect(received!.parsed.html).toContain('\n.<b>dot</b>\n');
      expect(received!.headerLines('list-unsubscribe')).toEqual(['<https://papers.example.test/u/u-42>']);
      expect(received!.headerLines('list-unsubscribe-post')).toEqual(['List-Unsubscribe=One-Click']);
    });

    it(`fails through the ${path} path with errors the one classifier reads`, async () => {
      sink.onRcpt = (address) =>
        address.startsWith('gone') ? { code: 550, message: '5.1.1 No such user' } : address.startsWith('busy') ? { code: 451, message: '4.3.0 Try later' } : undefined;
      try {
        const gone = await transports[path]!.send(envelope('gone@example.org'), message('gone@example.org')).catch((error: unknown) => error);
        expect(classifySmtpError(gone)).toMatchObject({ kind: 'hard_bounce', responseCode: 550, enhancedCode: '5.1.1' });
        const busy = await transports[path]!.send(envelope('busy@example.org'), message('busy@example.org')).catch((error: unknown) => error);
        expect(classifySmtpError(busy)).toMatchObject({ kind: 'transient', responseCode: 451, enhancedCode: '4.3.0' });
        // The transport stays usable after a rejected recipient.
        await transports[path]!.send(envelope(`after-${path}@example.org`), message(`after-${path}@example.org`, 43));
        expect(sink.to(`after-${path}@example.org`)).toHaveLength(1);
      } finally {
        sink.onRcpt = undefined;
      }
    });
  }
});

describe('confirmation mail failures go through the same classifier', () => {
  let t: TestDatabase;
  let sink: SmtpSink;
  let mailer: Mailer;
  beforeAll(async () => {
    t = await createTestDatabase();
    sink = await startSmtpSink();
    mailer = createSmtpMailer({ url: sink.url, maxConnections: 1 });
  });
  afterAll(async () => {
    await mailer?.close();
    await sink?.close();
    await t?.drop();
  });

  const deps = () => ({ db: t.db, mailer, publicUrl: 'https://papers.example.test', mailFrom: context.mailFrom });
  const pending = async (email: string) => (await t.db.insertInto('subscribers').values({ email, status: 'pending' }).returning('id').executeTakeFirstOrThrow()).id;
  const tokens = async (subscriberId: number) => (await t.db.selectFrom('confirmation_tokens').select('id').where('subscriber_id', '=', subscriberId).execute()).length;

  it('gives up on a permanent rejection and keeps no token', async () => {
    sink.onRcpt = () => ({ code: 550, message: '5.1.1 No such user' });
    const id = await pending('nobody@example.org');
    expect(await sendConfirmationEmail(deps(), id)).toBe('rejected');
    expect(await tokens(id)).toBe(0);
  });

  it('throws on a transient failure so the queue retries it, and keeps no token', async () => {
    sink.onRcpt = () => ({ code: 451, message: '4.3.0 Try again later' });
    const id = await pending('later@example.org');
    await expect(sendConfirmationEmail(deps(), id)).rejects.toMatchObject({ responseCode: 451 });
    expect(await tokens(id)).toBe(0);
    sink.onRcpt = undefined;
    expect(await sendConfirmationEmail(deps(), id)).toBe('sent');
    expect(await tokens(id)).toBe(1);
    expect(sink.to('later@example.org')).toHaveLength(1);
  });
});
