import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedSentDeliveries } from '../helpers/inbound-seed.ts';
import { startTestService, type TestService } from '../helpers/service.ts';

const MAILGUN_KEY = 'key-test-mailgun-signing-0123456789';
const POSTMARK_TOKEN = 'postmark-test-token-0123456789';
const dir = path.join(import.meta.dirname, '../fixtures/webhooks');

describe('relay webhooks: Mailgun (HMAC, timestamp window, replay) and Postmark (basic auth or token)', () => {
  let t: TestService;
  let rows: Awaited<ReturnType<typeof seedSentDeliveries>>['rows'];
  beforeAll(async () => {
    t = await startTestService({ MAILGUN_WEBHOOK_SIGNING_KEY: MAILGUN_KEY, POSTMARK_WEBHOOK_TOKEN: POSTMARK_TOKEN });
    ({ rows } = await seedSentDeliveries(t.service.db, 8));
  });
  afterAll(async () => {
    await t?.stop();
  });

  const fill = (file: string, row: (typeof rows)[number], extra: Record<string, string> = {}) => {
    let text = readFileSync(path.join(dir, file), 'utf8').replaceAll('{{RCPT}}', row.email).replaceAll('{{MESSAGE_ID}}', row.messageId);
    for (const [k, v] of Object.entries(extra)) text = text.replaceAll(`{{${k}}}`, v);
    return JSON.parse(text) as Record<string, unknown>;
  };
  const mailgun = (file: string, row: (typeof rows)[number], options: { key?: string; timestamp?: number; token?: string } = {}) => {
    const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
    const token = options.token ?? randomBytes(25).toString('hex');
    const signature = createHmac('sha256', options.key ?? MAILGUN_KEY).update(timestamp + token).digest('hex');
    return fill(file, row, { TIMESTAMP: timestamp, TOKEN: token, SIGNATURE: signature });
  };
  const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${t.baseUrl}${url}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const state = async (row: (typeof rows)[number]) => {
    const d = await t.service.db.selectFrom('deliveries').select('status').where('id', '=', row.deliveryId).executeTakeFirstOrThrow();
    const s = await t.service.db.selectFrom('subscribers').select('status').where('id', '=', row.subscriberId).executeTakeFirstOrThrow();
    return { delivery: d.status, subscriber: s.status };
  };
  const reports = async () => Number((await t.service.db.selectFrom('inbound_reports').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()).n);

  it('Mailgun: a signed permanent failure bounces the delivery and suppresses the person', async () => {
    const response = await post('/webhooks/mailgun', mailgun('mailgun-failed-permanent.json', rows[0]!));
    expect(response.status).toBe(200);
    expect(await state(rows[0]!)).toEqual({ delivery: 'bounced', subscriber: 'bounced' });
  });

  it('Mailgun: a signed complaint marks the delivery complained and suppresses the person', async () => {
    expect((await post('/webhooks/mailgun', mailgun('mailgun-complained.json', rows[1]!))).status).toBe(200);
    expect(await state(rows[1]!)).toEqual({ delivery: 'complained', subscriber: 'complained' });
  });

  it('Mailgun: forged, stale, replayed and malformed calls get 401/400 and change nothing', async () => {
    const row = rows[2]!;
    const before = await reports();
    expect((await post('/webhooks/mailgun', mailgun('mailgun-failed-permanent.json', row, { key: 'key-someone-else-entirely-000' }))).status).toBe(401);
    expect((await post('/webhooks/mailgun', mailgun('mailgun-failed-permanent.json', row, { timestamp: Math.floor(Date.now() / 1000) - 3600 }))).status).toBe(401);
    const tampered = mailgun('mailgun-failed-permanent.json', row);
    (tampered.signature as { token: string }).token += 'x';
    expect((await post('/webhooks/mailgun', tampered)).status).toBe(401);
    expect((await post('/webhooks/mailgun', { 'event-data': { event: 'failed' } })).status).toBe(400);
    expect((await post('/webhooks/mailgun', '{"signature": ')).status).toBe(400);
    expect(await reports()).toBe(before);
    expect(await state(row)).toEqual({ delivery: 'sent', subscriber: 'active' });
    // A captured valid call sent again: the first is taken, the replay refused.
    const call = mailgun('mailgun-opened.json', row, { token: 'replayed-token-1234567890' });
    expect((await post('/webhooks/mailgun', call)).status).toBe(200);
    expect((await post('/webhooks/mailgun', call)).status).toBe(401);
    expect(await reports()).toBe(before + 1);
  });

  it('Mailgun: a validly signed event of a type we do not act on is 200 and changes nothing', async () => {
    const response = await post('/webhooks/mailgun', mailgun('mailgun-opened.json', rows[3]!));
    expect(response.status).toBe(200);
    expect(await state(rows[3]!)).toEqual({ delivery: 'sent', subscriber: 'active' });
  });

  it('Postmark: basic auth or ?token= accepted; a hard bounce and a spam complaint take effect', async () => {
    const basic = `Basic ${Buffer.from(`postmark:${POSTMARK_TOKEN}`).toString('base64')}`;
    expect((await post('/webhooks/postmark', fill('postmark-bounce-hard.json', rows[4]!), { authorization: basic })).status).toBe(200);
    expect(await state(rows[4]!)).toEqual({ delivery: 'bounced', subscriber: 'bounced' });
    expect((await post(`/webhooks/postmark?token=${POSTMARK_TOKEN}`, fill('postmark-spam-complaint.json', rows[5]!))).status).toBe(200);
    expect(await state(rows[5]!)).toEqual({ delivery: 'complained', subscriber: 'complained' });
    expect((await post(`/webhooks/postmark?token=${POSTMARK_TOKEN}`, fill('postmark-open.json', rows[6]!))).status).toBe(200);
    expect(await state(rows[6]!)).toEqual({ delivery: 'sent', subscriber: 'active' });
  });

  it('Postmark: wrong or missing credentials get 401, a malformed body 400, and change nothing', async () => {
    const row = rows[7]!;
    const before = await reports();
    expect((await post('/webhooks/postmark', fill('postmark-bounce-hard.json', row))).status).toBe(401);
    expect((await post('/webhooks/postmark', fill('postmark-bounce-hard.json', row), { authorization: `Basic ${Buffer.from('postmark:wrong-token-xxxxxxxxxx').toString('base64')}` })).status).toBe(401);
    expect((await post('/webhooks/postmark?token=nope', fill('postmark-bounce-hard.json', row))).status).toBe(401);
    expect((await post(`/webhooks/postmark?token=${POSTMARK_TOKEN}`, { hello: 'world' })).status).toBe(400);
    expect(await reports()).toBe(before);
    expect(await state(row)).toEqual({ delivery: 'sent', subscriber: 'active' });
  });
});
