import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifySmtpError } from '../../src/delivery/smtp-errors.ts';
import { createSmtpPool } from '../../src/delivery/smtp-pool.ts';

describe('the digest SMTP client', () => {
  let server: SMTPServer;
  let port = 0;
  const received: string[] = [];
  /** The SMTP session (connection) of every accepted message and every rejected recipient. */
  const sessions: string[] = [];
  beforeAll(async () => {
    server = new SMTPServer({
      disabledCommands: ['STARTTLS'],
      authMethods: ['LOGIN'],
      allowInsecureAuth: true,
      logger: false,
      onAuth(auth, _session, callback) {
        if (auth.username === 'paperboy' && auth.password === 'p@ss word') callback(null, { user: 'paperboy' });
        else callback(Object.assign(new Error('Invalid credentials'), { responseCode: 535 }));
      },
      onRcptTo(address, session, callback) {
        if (address.address.startsWith('unknown')) sessions.push(session.id);
        if (address.address.startsWith('unknown')) callback(Object.assign(new Error('5.1.1 No such user'), { responseCode: 550 }));
        else callback();
      },
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          sessions.push(session.id);
          received.push(Buffer.concat(chunks).toString('latin1'));
          callback();
        });
      },
    });
    server.on('error', () => {});
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    port = (server.server.address() as AddressInfo).port;
  });
  afterAll(async () => new Promise<void>((resolve) => server.close(() => resolve())));

  const message = [Buffer.from('Subject: hi\r\n\r\n'), Buffer.from('..a stuffed line\r\nend')];

  it('authenticates, sends pre-stuffed pieces as they are, and keeps the connection after a rejected recipient', async () => {
    const pool = createSmtpPool({ url: `smtp://paperboy:${encodeURIComponent('p@ss word')}@127.0.0.1:${port}`, maxConnections: 1, allowPlaintext: true });
    try {
      expect(await pool.send({ from: 'd@x.test', to: 'a@x.test' }, message)).toMatch(/^250/);
      const rejected = await pool.send({ from: 'd@x.test', to: 'unknown@x.test' }, message).catch((error: unknown) => error);
      expect(classifySmtpError(rejected)).toMatchObject({ kind: 'hard_bounce', responseCode: 550, enhancedCode: '5.1.1' });
      expect(await pool.send({ from: 'd@x.test', to: 'b@x.test' }, message)).toMatch(/^250/);
      // The server un-stuffs the leading dot: the pieces went out unchanged.
      expect(received.at(-1)).toBe('Subject: hi\r\n\r\n.a stuffed line\r\nend\r\n');
      expect(received).toHaveLength(2);
      // One connection carried all three: the message after the rejected recipient reused it.
      expect(sessions).toHaveLength(3);
      expect(new Set(sessions).size).toBe(1);
    } finally {
      await pool.close();
    }
  });

  it('fails with EAUTH on a wrong password, which the classifier treats as a policy problem', async () => {
    const pool = createSmtpPool({ url: `smtp://paperboy:wrong@127.0.0.1:${port}`, maxConnections: 1, allowPlaintext: true });
    try {
      const error = await pool.send({ from: 'd@x.test', to: 'a@x.test' }, message).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'EAUTH' });
      expect(classifySmtpError(error).kind).toBe('policy');
    } finally {
      await pool.close();
    }
  });

  it('refuses to send in plain text to a server without STARTTLS unless told it is a local sink', async () => {
    const pool = createSmtpPool({ url: `smtp://127.0.0.1:${port}`, maxConnections: 1 });
    try {
      await expect(pool.send({ from: 'd@x.test', to: 'a@x.test' }, message)).rejects.toMatchObject({ code: 'ETLS' });
    } finally {
      await pool.close();
    }
  });
});
