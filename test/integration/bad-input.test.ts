import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSubscriberToken } from '../../src/subscribers/tokens.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { waitFor } from '../helpers/wait-for.ts';

/** Everything a client can send gets a clear 4xx or the neutral page, never a 500, and changes nothing it should not. */
describe('bad input', () => {
  let t: TestService;
  let activeId: number;
  beforeAll(async () => {
    t = await startTestService();
    const row = await t.service.db.insertInto('subscribers').values({ email: 'active@example.com', status: 'active', confirmed_at: new Date() }).returning('id').executeTakeFirstOrThrow();
    activeId = row.id;
  });
  afterAll(async () => t?.stop());

  const post = (path: string, body: string | undefined, contentType?: string) =>
    fetch(`${t.baseUrl}${path}`, { method: 'POST', redirect: 'manual', headers: contentType ? { 'content-type': contentType } : {}, body });
  const subscriberCount = async () => Number((await t.service.db.selectFrom('subscribers').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
  const snapshot = () => t.service.db.selectFrom('subscribers').select(['id', 'email', 'status', 'updated_at']).orderBy('id').execute();

  it.each([
    ['missing email (JSON)', JSON.stringify({}), 'application/json', 400],
    ['email of the wrong type', JSON.stringify({ email: 42 }), 'application/json', 400],
    ['email as an array', JSON.stringify({ email: ['a@example.com', 'b@example.com'] }), 'application/json', 400],
    ['malformed JSON', '{"email": ', 'application/json', 400],
    ['JSON that is not an object', '"a@example.com"', 'application/json', 400],
    ['an oversized address', JSON.stringify({ email: `${'a'.repeat(900)}@example.com` }), 'application/json', 400],
    ['CRLF header injection', JSON.stringify({ email: 'victim@example.com\r\nBcc: x@evil.test' }), 'application/json', 400],
    ['a comma list', JSON.stringify({ email: 'a@example.com, b@example.com' }), 'application/json', 400],
    ['a display name', JSON.stringify({ email: 'Eve <eve@example.com>' }), 'application/json', 400],
    ['topics of the wrong type', JSON.stringify({ email: 'x@example.com', topics: { a: 1 } }), 'application/json', 400],
    ['a form without email', 'topics=ml', 'application/x-www-form-urlencoded', 400],
    ['a malformed address in a form', 'email=not-an-address', 'application/x-www-form-urlencoded', 400],
    ['an unsupported content type', 'email=a@example.com', 'application/xml', 415],
    ['a text body where a form is expected', 'email=a@example.com', 'text/plain', 400],
    ['a body over the limit', `email=${'a'.repeat(200_000)}`, 'application/x-www-form-urlencoded', 413],
  ])('subscribe rejects %s and stores nothing', async (_name, body, contentType, status) => {
    const before = await subscriberCount();
    const mailsBefore = t.sink.messages.length;
    const response = await post('/subscribe', body, contentType);
    expect(response.status).toBe(status);
    const text = await response.text();
    expect(text.length).toBeGreaterThan(0);
    if (contentType === 'application/json') expect(JSON.parse(text)).toHaveProperty('message');
    expect(await subscriberCount()).toBe(before);
    // A valid sign-up after it, mailed by the same worker: once its email is here, the worker has
    // had its chance to send anything the bad request queued. Only the marker arrived.
    const marker = `marker-${randomBytes(4).toString('hex')}@example.org`;
    expect((await post('/subscribe', JSON.stringify({ email: marker }), 'application/json')).status).toBe(202);
    await waitFor(() => t.sink.to(marker).length === 1, { what: `the confirmation to ${marker}`, timeoutMs: 30_000 });
    expect(t.sink.messages.slice(mailsBefore).flatMap((m) => m.envelopeTo).filter((to) => !to.startsWith('marker-'))).toEqual([]);
  });

  it('answers a sign-up of an existing active address exactly like a new one', async () => {
    const form = (email: string) => post('/subscribe', new URLSearchParams({ email }).toString(), 'application/x-www-form-urlencoded');
    const known = await form('active@example.com');
    const fresh = await form('brand-new@example.com');
    expect(known.status).toBe(fresh.status);
    expect(await known.text()).toBe(await fresh.text());
    const json = (email: string) => post('/subscribe', JSON.stringify({ email }), 'application/json');
    const [a, b] = await Promise.all([json('active@example.com'), json('another-new@example.com')]);
    expect(a.status).toBe(202);
    expect(await a.text()).toBe(await b.text());
  });

  it('rejects unknown, altered and malformed confirmation tokens without changing anything', async () => {
    const before = await snapshot();
    for (const token of ['x', 'A'.repeat(43), `${'A'.repeat(42)}%00`, "'; drop table subscribers; --", '..%2f..%2fetc%2fpasswd', 'é'.repeat(30)]) {
      const path = `/confirm/${encodeURIComponent(token)}`;
      const page = await fetch(`${t.baseUrl}${path}`, { headers: { accept: 'text/html' } });
      expect(page.status).toBe(404);
      const confirm = await post(path, '', 'application/x-www-form-urlencoded');
      expect(confirm.status).toBe(404);
    }
    expect((await fetch(`${t.baseUrl}/confirm/${'A'.repeat(500)}`)).status).toBe(414);
    expect(await snapshot()).toEqual(before);
  });

  it('rejects forged unsubscribe tokens and is idempotent for real ones', async () => {
    const before = await snapshot();
    const real = createSubscriberToken(t.config.secret, 'unsubscribe', activeId, 1);
    const forged = [
      createSubscriberToken('another-secret-another-secret-another-secret', 'unsubscribe', activeId, 1),
      real.slice(0, -1),
      `${real.slice(0, -1)}${real.endsWith('A') ? 'B' : 'A'}`,
      createSubscriberToken(t.config.secret, 'unsubscribe', activeId, 2),
      'active@example.com',
      '',
    ];
    for (const token of forged) {
      const response = await post(`/u/${encodeURIComponent(token)}`, 'List-Unsubscribe=One-Click', 'application/x-www-form-urlencoded');
      expect(response.status, token).toBeGreaterThanOrEqual(400);
      expect(response.status, token).toBeLessThan(500);
      expect(response.headers.get('location')).toBeNull();
    }
    expect(await snapshot()).toEqual(before);

    const multipart = '--XYZ\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--XYZ--\r\n';
    const first = await post(`/u/${real}`, multipart, 'multipart/form-data; boundary=XYZ');
    expect(first.status).toBe(200);
    const second = await post(`/u/${real}`, undefined);
    expect(second.status).toBe(200);
    const json = await post(`/u/${real}`, '{}', 'application/json');
    expect(json.status).toBe(200);
    const row = await t.service.db.selectFrom('subscribers').selectAll().where('id', '=', activeId).executeTakeFirstOrThrow();
    expect(row.status).toBe('unsubscribed');
  });

  it('answers unknown routes and methods with 404 JSON or a page, never a 500', async () => {
    expect((await fetch(`${t.baseUrl}/nope`)).status).toBe(404);
    expect((await fetch(`${t.baseUrl}/nope`, { headers: { accept: 'text/html' } })).headers.get('content-type')).toContain('text/html');
    expect((await fetch(`${t.baseUrl}/subscribe`, { method: 'DELETE' })).status).toBe(404);
  });
});
