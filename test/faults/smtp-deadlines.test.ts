import { afterEach, describe, expect, it } from 'vitest';
import { createSmtpMailer } from '../../src/delivery/mailer.ts';
import { classifySmtpError } from '../../src/delivery/smtp-errors.ts';
import { createSmtpPool, type SmtpPool } from '../../src/delivery/smtp-pool.ts';
import { startFaultSink, type FaultSink } from '../helpers/fault-sink.ts';

/**
 * The SMTP client against a relay that misbehaves: every wait has an absolute deadline, and
 * silence after the final dot is "maybe delivered", never a plain transient failure.
 */
describe('SMTP deadlines and the reply after the final dot', () => {
  let sink: FaultSink | undefined;
  let pool: SmtpPool | undefined;
  afterEach(async () => {
    await pool?.close();
    await sink?.close();
    pool = undefined;
    sink = undefined;
  });

  const message = (id: string) => [Buffer.from(`Message-ID: <${id}@x.test>\r\nSubject: hi\r\n\r\nbody`)];
  const open = (s: FaultSink, deadlines: { commandTimeoutMs?: number; transactionTimeoutMs?: number }) =>
    (pool = createSmtpPool({ url: s.url, maxConnections: 1, allowPlaintext: true, ...deadlines }));

  it('gives up on a relay that takes the message and never answers, and says it may have been delivered', async () => {
    sink = await startFaultSink({ afterDot: () => 'stall' });
    const smtp = open(sink, { commandTimeoutMs: 300, transactionTimeoutMs: 5_000 });
    const error = await smtp.send({ from: 'd@x.test', to: 'a@x.test' }, message('stall')).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ETIMEDOUT', maybeDelivered: true });
    expect(classifySmtpError(error).kind).toBe('maybe_delivered');
    expect(sink.byMessageId.get('<stall@x.test>')).toBe(1);
  });

  it('treats a connection dropped right after the final dot as maybe delivered', async () => {
    sink = await startFaultSink({ afterDot: () => 'drop' });
    const smtp = open(sink, {});
    const error = await smtp.send({ from: 'd@x.test', to: 'a@x.test' }, message('drop')).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ECONNECTION', maybeDelivered: true });
    expect(classifySmtpError(error).kind).toBe('maybe_delivered');
    expect(sink.messages).toHaveLength(1);
  });

  it('puts an absolute deadline on each reply: a greeting dripped byte by byte fails before the message is sent', async () => {
    sink = await startFaultSink({ dripMs: 40 });
    const smtp = open(sink, { commandTimeoutMs: 200, transactionTimeoutMs: 60_000 });
    const error = await smtp.send({ from: 'd@x.test', to: 'a@x.test' }, message('drip')).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ETIMEDOUT', maybeDelivered: false });
    expect(classifySmtpError(error).kind).toBe('transient');
    expect(sink.messages).toHaveLength(0);
  });

  it('puts an absolute deadline on the whole transaction even when every reply comes in time', async () => {
    sink = await startFaultSink();
    const smtp = open(sink, { commandTimeoutMs: 10_000, transactionTimeoutMs: 400 });
    // A warm connection first, so the deadline below covers only the transaction.
    expect(await smtp.send({ from: 'd@x.test', to: 'a@x.test' }, message('warm'))).toMatch(/^250/);
    sink.script.dripMs = 15; // each reply ~0.3–0.6 s: all within the reply deadline, too slow together
    const error = await smtp.send({ from: 'd@x.test', to: 'b@x.test' }, message('slow')).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ETIMEDOUT' });
    expect((error as Error).message).toMatch(/transaction took longer than 400 ms/);
    // Whether the dot had gone out decides the kind; it is never both sent twice and unknown.
    const kind = classifySmtpError(error).kind;
    expect(kind === 'maybe_delivered' ? sink.messages.length === 1 : kind === 'transient').toBe(true);
  });

  it('answers a 421 outage with transient failures and sends again once the window is over', async () => {
    sink = await startFaultSink({ refuseUntil: Date.now() + 60_000, refuseCode: 421, refuseAt: 'greeting' });
    const smtp = open(sink, {});
    const refused = await smtp.send({ from: 'd@x.test', to: 'a@x.test' }, message('r1')).catch((e: unknown) => e);
    expect(classifySmtpError(refused)).toMatchObject({ kind: 'transient', responseCode: 421 });
    sink.script.refuseAt = 'mail';
    const refusedAtMail = await smtp.send({ from: 'd@x.test', to: 'a@x.test' }, message('r2')).catch((e: unknown) => e);
    expect(classifySmtpError(refusedAtMail)).toMatchObject({ kind: 'transient', responseCode: 421 });
    sink.script.refuseUntil = Date.now();
    expect(await smtp.send({ from: 'd@x.test', to: 'a@x.test' }, message('ok'))).toMatch(/^250/);
    expect(sink.messages.map((m) => m.messageId)).toEqual(['<ok@x.test>']);
    expect(sink.refusals).toHaveLength(2);
  });

  it('sends composed (non-digest) mail through the same client, so the same deadlines and after-dot rule apply', async () => {
    sink = await startFaultSink({ afterDot: () => 'stall' });
    const mailer = createSmtpMailer({ url: sink.url, maxConnections: 1, commandTimeoutMs: 300 });
    try {
      const error = await mailer
        .send({ from: 'd@x.test', to: { name: '', address: 'a@x.test' }, subject: 'Confirm', text: '.leading dot\nline two' })
        .catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'ETIMEDOUT', maybeDelivered: true });
      expect(sink.messages).toHaveLength(1);
      sink.script.afterDot = undefined;
      const sent = await mailer.sendRaw({ from: 'd@x.test', to: 'b@x.test' }, 'Subject: raw\n\n.dot\nend\n');
      expect(sent.response).toMatch(/^250/);
      expect(sink.messages.at(-1)!.to).toEqual(['b@x.test']);
    } finally {
      await mailer.close();
    }
  });
});
