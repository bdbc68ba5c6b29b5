import { execFileSync } from 'node:child_process';
import { createSign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedSentDeliveries } from '../helpers/inbound-seed.ts';
import { startTestService, type TestService } from '../helpers/service.ts';

const TOPIC = 'arn:aws:sns:eu-west-1:123456789012:paperboy-ses';
const dir = mkdtempSync(path.join(os.tmpdir(), 'paperboy-sns-'));
const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });

describe('Amazon SES through SNS: signatures checked against the signing certificate from an allowed host', () => {
  let t: TestService;
  let server: https.Server;
  let base: string;
  let confirmations = 0;
  let rows: Awaited<ReturnType<typeof seedSentDeliveries>>['rows'];
  beforeAll(async () => {
    // A test CA, the local server's certificate for localhost, and an SNS signing certificate.
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=Paperboy test CA');
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
    writeFileSync(path.join(dir, 'san.ext'), 'subjectAltName=DNS:localhost\n');
    openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'san.ext');
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'signing.key', '-out', 'signing.pem', '-days', '2', '-subj', '/CN=sns.amazonaws.com');
    const signingCert = readFileSync(path.join(dir, 'signing.pem'), 'utf8');
    server = https.createServer({ key: readFileSync(path.join(dir, 'server.key')), cert: readFileSync(path.join(dir, 'server.pem')) }, (req, res) => {
      if (req.url === '/SimpleNotificationService-test.pem') return res.end(signingCert);
      if (req.url?.startsWith('/confirm')) {
        confirmations++;
        return res.end('<ConfirmSubscriptionResponse/>');
      }
      res.statusCode = 404;
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `https://localhost:${(server.address() as AddressInfo).port}`;
    t = await startTestService({ SES_SNS_TOPIC_ARNS: TOPIC, SNS_TEST_HOST_PATTERN: '^localhost$', SNS_TEST_CA_FILE: path.join(dir, 'ca.pem') });
    ({ rows } = await seedSentDeliveries(t.service.db, 4));
  });
  afterAll(async () => {
    await t?.stop();
    await new Promise((resolve) => server?.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  let serial = 0;
  const sign = (message: Record<string, string>, version: '1' | '2', key = readFileSync(path.join(dir, 'signing.key'))): Record<string, string> => {
    const fields = message.Type === 'Notification' ? ['Message', 'MessageId', 'Subject', 'Timestamp', 'TopicArn', 'Type'] : ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'];
    const text = fields.filter((f) => message[f] !== undefined).map((f) => `${f}\n${message[f]}\n`).join('');
    const signature = createSign(version === '2' ? 'RSA-SHA256' : 'RSA-SHA1').update(text).sign(key, 'base64');
    return { ...message, SignatureVersion: version, Signature: signature };
  };
  const notification = (inner: object, overrides: Record<string, string> = {}): Record<string, string> => ({
    Type: 'Notification',
    MessageId: `22b80b92-fdea-4c2c-8f9d-bdfb0c7bf3${String(serial++).padStart(2, '0')}`,
    TopicArn: TOPIC,
    Message: JSON.stringify(inner),
    Timestamp: new Date().toISOString(),
    SigningCertURL: `${base}/SimpleNotificationService-test.pem`,
    ...overrides,
  });
  const bounce = (row: (typeof rows)[number]) => ({
    notificationType: 'Bounce',
    bounce: { bounceType: 'Permanent', bounceSubType: 'General', bouncedRecipients: [{ emailAddress: row.email, action: 'failed', status: '5.1.1', diagnosticCode: 'smtp; 550 5.1.1 user unknown' }], timestamp: new Date().toISOString(), feedbackId: 'x' },
    mail: { timestamp: new Date().toISOString(), source: 'digest@papers.example.test', messageId: '0000014a-f896-4c47', destination: [row.email], headers: [{ name: 'Message-ID', value: `<${row.messageId}>` }], commonHeaders: { messageId: `<${row.messageId}>` } },
  });
  const post = (body: unknown) => fetch(`${t.baseUrl}/webhooks/ses`, { method: 'POST', headers: { 'content-type': 'text/plain; charset=UTF-8', 'x-amz-sns-message-type': 'Notification' }, body: JSON.stringify(body) });
  const state = async (row: (typeof rows)[number]) => (await t.service.db.selectFrom('deliveries').select('status').where('id', '=', row.deliveryId).executeTakeFirstOrThrow()).status;

  it('a signed bounce (SignatureVersion 1) and a signed complaint (2) take effect', async () => {
    expect((await post(sign(notification(bounce(rows[0]!)), '1'))).status).toBe(200);
    expect(await state(rows[0]!)).toBe('bounced');
    const complaint = { notificationType: 'Complaint', complaint: { complainedRecipients: [{ emailAddress: rows[1]!.email }], complaintFeedbackType: 'abuse' }, mail: { headers: [{ name: 'Message-ID', value: `<${rows[1]!.messageId}>` }] } };
    expect((await post(sign(notification(complaint), '2'))).status).toBe(200);
    expect(await state(rows[1]!)).toBe('complained');
  });

  it('forged, altered, foreign-certificate, other-topic and malformed messages get 401/400 and change nothing', async () => {
    const row = rows[2]!;
    const signed = sign(notification(bounce(row)), '2');
    expect((await post({ ...signed, Message: signed.Message!.replace('Permanent', 'Permanent ') })).status).toBe(401);
    expect((await post(sign(notification(bounce(row)), '2', readFileSync(path.join(dir, 'server.key'))))).status).toBe(401);
    expect((await post(sign(notification(bounce(row), { SigningCertURL: 'https://evil.example/cert.pem' }), '2'))).status).toBe(401);
    expect((await post(sign(notification(bounce(row), { SigningCertURL: `${base.replace('https', 'http')}/SimpleNotificationService-test.pem` }), '2'))).status).toBe(401);
    expect((await post(sign(notification(bounce(row), { TopicArn: 'arn:aws:sns:eu-west-1:999999999999:other' }), '2'))).status).toBe(401);
    expect((await post({ Type: 'Notification' })).status).toBe(400);
    expect(await state(row)).toBe('sent');
  });

  it('a valid notification of a type we do not act on is 200 and changes nothing', async () => {
    const delivery = { notificationType: 'Delivery', mail: { headers: [{ name: 'Message-ID', value: `<${rows[3]!.messageId}>` }] }, delivery: { recipients: [rows[3]!.email] } };
    expect((await post(sign(notification(delivery), '2'))).status).toBe(200);
    expect(await state(rows[3]!)).toBe('sent');
  });

  it('a subscription confirmation fetches SubscribeURL only on an allowed host', async () => {
    const confirmation = (url: string): Record<string, string> => ({ Type: 'SubscriptionConfirmation', MessageId: `c-${serial++}`, Token: 'tok', TopicArn: TOPIC, Message: 'You have chosen to subscribe', SubscribeURL: url, Timestamp: new Date().toISOString(), SigningCertURL: `${base}/SimpleNotificationService-test.pem` });
    expect((await post(sign(confirmation(`${base}/confirm?Token=tok`), '2'))).status).toBe(200);
    expect(confirmations).toBe(1);
    expect((await post(sign(confirmation('https://evil.example/confirm'), '2'))).status).toBe(400);
    expect(confirmations).toBe(1);
  });
});
