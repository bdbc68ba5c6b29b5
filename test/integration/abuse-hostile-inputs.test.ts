import { randomBytes } from 'node:crypto';
import { domainToASCII } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSubscriberToken } from '../../src/subscribers/tokens.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { waitFor } from '../helpers/wait-for.ts';

/**
 * Hostile inputs against every public and admin route (email-standards §8 and more). For each:
 * no 5xx, the expected 4xx/2xx, no database change unless one is due, and — checked at the SMTP
 * sink after all cases — mail only to the addresses that were accepted, one each, with nothing
 * injected into any header.
 */

const ADMIN_TOKEN = `adm-${randomBytes(16).toString('hex')}`;

interface Fixtures {
  confirmToken: string;
  expiredConfirmToken: string;
  unsubscribeToken: (n: number) => string;
  preferencesToken: string;
  activeId: number;
}

interface Case {
  name: string;
  method?: 'GET' | 'POST' | 'HEAD';
  path: string | ((f: Fixtures) => string);
  /** A string is sent as is; an object as a form (or JSON with json: true). */
  body?: string | Buffer | Record<string, string | string[]>;
  json?: boolean;
  headers?: Record<string, string>;
  status: number | number[];
  /** The database may change (an accepted sign-up, an unsubscribe): then `mailsTo` or `unsubscribes` says how. */
  changes?: boolean;
  /** The address a confirmation email must reach, as stored. */
  mailsTo?: string;
  /** The active fixture subscriber (index) this request must unsubscribe. */
  unsubscribes?: number;
}

const form = (fields: Record<string, string | string[]>) => {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) for (const item of [v].flat()) params.append(k, item);
  return params.toString();
};

const long = (n: number, c = 'a') => c.repeat(n);
// 64 + 1 + 63 + 1 + 63 + 1 + 57 + 1 + 2 = 253 octets. 254 is accepted too (unit tests), but the
// test SMTP sink (smtp-server) refuses addresses over 253 octets.
const at253 = `${long(64)}@${long(63, 'b')}.${long(63, 'c')}.${long(57, 'd')}.io`;
const at255 = `${long(64)}@${long(63, 'b')}.${long(63, 'c')}.${long(59, 'd')}.io`;

const shown = (email: string) => {
  const json = JSON.stringify(email);
  // Long addresses differ only past the cut: their length keeps the case names distinct.
  return json.length > 60 ? `${json.slice(0, 60)}… (${email.length} chars)` : json;
};
const sub = (email: string, extra: Partial<Case> = {}): Case => ({ name: `subscribe ${shown(email)}`, method: 'POST', path: '/subscribe', body: { email }, status: 400, ...extra });
const ok = (email: string, stored: string): Partial<Case> => ({ status: 200, changes: true, mailsTo: stored, body: { email } });

const cases: Case[] = [
  // Addresses (§8 rows 1–20 and more)
  sub('Alice@Example.COM', ok('Alice@Example.COM', 'Alice@example.com')),
  sub('  bob@example.com\t\u00a0', ok('  bob@example.com\t\u00a0', 'bob@example.com')),
  sub('bob\u200b@example.com'),
  sub('bob@exam\u200dple.com'),
  sub('\ufeffbob@example.com'),
  sub('bob@example.com\u202e'),
  sub('victim@example.com\r\nBcc: x@evil.test'),
  sub('victim@example.com\nBcc: x@evil.test'),
  sub('victim@example.com\rBcc: x@evil.test'),
  sub('victim@example.com%0d%0aBcc:x@evil.test'),
  sub('victim@example.com, attacker@evil.test'),
  sub('victim@example.com,attacker@evil.test'),
  sub('victim@example.com;attacker@evil.test'),
  sub('Eve <eve@example.com>'),
  sub('<eve@example.com>'),
  sub('"Eve" eve@example.com'),
  sub('"john doe"@example.com'),
  sub('"x@evil.test"@example.com'),
  sub('user@example.com (comment)'),
  sub('(comment)user@example.com'),
  sub('user@[127.0.0.1]'),
  sub('user@[IPv6:::1]'),
  sub('user@127.0.0.1'),
  sub('john..doe@example.com'),
  sub('.john@example.com'),
  sub('john.@example.com'),
  sub('user@example'),
  sub('user@localhost'),
  sub('user@-example.com'),
  sub('user@example-.com'),
  sub('user@exa_mple.com'),
  sub('user@example..com'),
  sub(`${long(65)}@example.com`),
  sub(`${long(64)}@example.com`, ok(`${long(64)}@example.com`, `${long(64)}@example.com`)),
  sub(at255),
  sub(at253, ok(at253, at253)),
  sub(`user@${long(64)}.com`),
  sub('A@B@c.com'),
  sub('user@bücher.de', ok('user@bücher.de', 'user@xn--bcher-kva.de')),
  sub('用户@example.com'),
  sub('user@g\u043e\u043egle.com', ok('user@g\u043e\u043egle.com', 'user@xn--ggle-55da.com')),
  sub('user+news@example.com', ok('user+news@example.com', 'user+news@example.com')),
  sub('ｕｓｅｒ@example.com'),
  sub('user＠example.com'),
  sub('a\u0000@b.com'),
  { name: 'subscribe raw %00 in the body', method: 'POST', path: '/subscribe', body: 'email=a%00@b.com', headers: { 'content-type': 'application/x-www-form-urlencoded' }, status: 400 },
  sub("'; DROP TABLE subscribers; --@example.com"),
  sub("x'or'1'='1@example.com", ok("x'or'1'='1@example.com", "x'or'1'='1@example.com")),
  sub('<script>alert(1)</script>@example.com'),
  sub('"><img src=x onerror=alert(1)>@example.com'),
  sub(''),
  sub('   '),
  sub('@example.com'),
  sub('user@'),
  sub(long(5000)),
  // Bodies of the wrong shape
  { name: 'subscribe without email', method: 'POST', path: '/subscribe', body: { topics: 'x' }, status: 400 },
  { name: 'repeated email parameter', method: 'POST', path: '/subscribe', body: { email: ['a@example.com', 'c@example.com'] }, status: 400 },
  { name: 'JSON email array', method: 'POST', path: '/subscribe', json: true, body: '{"email":["a@example.com","c@example.com"]}', status: 400 },
  { name: 'JSON operator object', method: 'POST', path: '/subscribe', json: true, body: '{"email":{"$ne":null}}', status: 400 },
  { name: 'JSON number', method: 'POST', path: '/subscribe', json: true, body: '{"email":42}', status: 400 },
  { name: 'JSON null', method: 'POST', path: '/subscribe', json: true, body: 'null', status: 400 },
  { name: 'JSON top-level array', method: 'POST', path: '/subscribe', json: true, body: '[{"email":"arr@example.com"}]', status: 400 },
  { name: 'truncated JSON', method: 'POST', path: '/subscribe', json: true, body: '{"email":', status: 400 },
  { name: 'JSON __proto__ pollution', method: 'POST', path: '/subscribe', json: true, body: '{"email":"proto@example.org","__proto__":{"admin":true}}', status: 400 },
  { name: 'JSON sign-up accepted', method: 'POST', path: '/subscribe', json: true, body: '{"email":"json@example.org"}', status: 202, changes: true, mailsTo: 'json@example.org' },
  { name: 'JSON-looking text/plain', method: 'POST', path: '/subscribe', body: '{"email":"plain@example.org"}', headers: { 'content-type': 'text/plain' }, status: [400, 415] },
  { name: 'multipart to subscribe', method: 'POST', path: '/subscribe', body: '--b\r\nContent-Disposition: form-data; name="email"\r\n\r\nmp@example.org\r\n--b--\r\n', headers: { 'content-type': 'multipart/form-data; boundary=b' }, status: [400, 415] },
  { name: 'form sent as JSON content type', method: 'POST', path: '/subscribe', body: 'email=formjson@example.org', headers: { 'content-type': 'application/json' }, status: 400 },
  { name: '1 MB form body', method: 'POST', path: '/subscribe', body: `email=big@example.org&topics=${long(1024 * 1024)}`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, status: 413 },
  { name: '1 MB JSON body', method: 'POST', path: '/subscribe', json: true, body: JSON.stringify({ email: 'big@example.org', topics: long(1024 * 1024) }), status: 413 },
  { name: '20 KB just over the form limit', method: 'POST', path: '/subscribe', body: { email: 'limit@example.org', website: '', topics: long(20 * 1024) }, status: 413 },
  { name: '1000 topics', method: 'POST', path: '/subscribe', json: true, body: JSON.stringify({ email: 'topics@example.org', topics: Array.from({ length: 1000 }, (_, i) => `t${i}`) }), status: 400 },
  // Topics are refused with a message (src/subscribers/topics.ts), the form comes back, nothing is stored.
  { name: 'HTML and template payload in topics', method: 'POST', path: '/subscribe', body: { email: 'html-topics@example.org', topics: '<script>alert(1)</script>, {{7*7}}, ${7*7}' }, status: 400 },
  { name: 'CRLF in time zone', method: 'POST', path: '/subscribe', body: { email: 'tz@example.org', timeZone: 'Europe/Berlin\r\nBcc: x@evil.test' }, status: 400 },
  { name: 'an unknown name field', method: 'POST', path: '/subscribe', body: { email: 'tz@example.org', timeZone: 'Europe/Berlin', name: 'Eve\r\nBcc: x@evil.test' }, status: 200, changes: true, mailsTo: 'tz@example.org' },
  { name: 'Host and X-Forwarded-Host of an attacker', method: 'POST', path: '/subscribe', body: { email: 'host@example.org' }, headers: { 'x-forwarded-host': 'evil.test' }, status: 200, changes: true, mailsTo: 'host@example.org' },
  { name: 'cross-site browser post', method: 'POST', path: '/subscribe', body: { email: 'csrf@example.org' }, headers: { 'sec-fetch-site': 'cross-site' }, status: 403 },
  { name: 'foreign Origin', method: 'POST', path: '/subscribe', body: { email: 'csrf@example.org' }, headers: { origin: 'https://evil.test' }, status: 403 },
  { name: 'honeypot filled', method: 'POST', path: '/subscribe', body: { email: 'honeypot@example.org', website: 'x' }, status: 200 },
  { name: 'GET on subscribe', method: 'GET', path: '/subscribe?email=get@example.org', status: 404 },
  // Confirmation tokens
  { name: 'confirm: unknown token', path: `/confirm/${randomBytes(32).toString('base64url')}`, status: 404 },
  { name: 'confirm: truncated token', path: (f) => `/confirm/${f.confirmToken.slice(0, -1)}`, status: 404 },
  { name: 'confirm: token with an extra char', path: (f) => `/confirm/${f.confirmToken}A`, status: 404 },
  { name: 'confirm: token in another case', method: 'POST', path: (f) => `/confirm/${f.confirmToken.toUpperCase() === f.confirmToken ? f.confirmToken.toLowerCase() : f.confirmToken.toUpperCase()}`, status: 404 },
  { name: 'confirm: path traversal', path: '/confirm/%2e%2e%2f%2e%2e%2fetc%2fpasswd', status: [400, 404] },
  { name: 'confirm: 10 KB token', method: 'POST', path: `/confirm/${long(10_000, 'A')}`, status: [400, 404, 414] },
  { name: 'confirm: SQL in the token', method: 'POST', path: `/confirm/${encodeURIComponent("' OR 1=1 --")}`, status: 404 },
  { name: 'confirm: expired token', method: 'POST', path: (f) => `/confirm/${f.expiredConfirmToken}`, status: 410 },
  { name: 'confirm: scanner GET changes nothing', path: (f) => `/confirm/${f.confirmToken}`, status: 200 },
  { name: 'confirm: HEAD changes nothing', method: 'HEAD', path: (f) => `/confirm/${f.confirmToken}`, status: 200 },
  { name: 'confirm: broken JSON body', method: 'POST', path: (f) => `/confirm/${f.confirmToken}`, body: '{"a":', headers: { 'content-type': 'application/json' }, status: 400 },
  { name: 'confirm: 1 MB body', method: 'POST', path: (f) => `/confirm/${f.confirmToken}`, body: `a=${long(1024 * 1024)}`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, status: 413 },
  { name: 'confirm: cross-site post', method: 'POST', path: (f) => `/confirm/${f.confirmToken}`, headers: { 'sec-fetch-site': 'cross-site' }, status: 403 },
  // Unsubscribe and preferences tokens
  { name: 'one-click: forged signature', method: 'POST', path: (f) => `/u/${f.unsubscribeToken(0).replace(/\.[^.]+$/, `.${randomBytes(18).toString('base64url')}`)}`, body: 'List-Unsubscribe=One-Click', status: 404 },
  { name: 'one-click: truncated', method: 'POST', path: (f) => `/u/${f.unsubscribeToken(0).slice(0, -2)}`, status: 404 },
  { name: 'one-click: other subscriber id', method: 'POST', path: (f) => `/u/${f.unsubscribeToken(0).replace(/^[0-9a-z]+/, (id) => (Number.parseInt(id, 36) + 1).toString(36))}`, status: 404 },
  { name: 'one-click: leading zero on the id', method: 'POST', path: (f) => `/u/0${f.unsubscribeToken(0)}`, status: 404 },
  { name: 'one-click: old version', method: 'POST', path: (f) => `/u/${f.unsubscribeToken(0).replace(/\.1\./, '.0.')}`, status: 404 },
  { name: 'one-click: confirmation token', method: 'POST', path: (f) => `/u/${f.confirmToken}`, status: 404 },
  { name: 'one-click: preferences token', method: 'POST', path: (f) => `/u/${f.preferencesToken}`, status: 404 },
  { name: 'one-click: address as token', method: 'POST', path: '/u/victim%40example.com', status: 404 },
  { name: 'one-click: 64 KB+ body', method: 'POST', path: (f) => `/u/${f.unsubscribeToken(0)}`, body: `List-Unsubscribe=One-Click&x=${long(70 * 1024)}`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, status: 413 },
  { name: 'one-click: JSON body (pinned: accepted)', method: 'POST', path: (f) => `/u/${f.unsubscribeToken(1)}`, body: '{}', headers: { 'content-type': 'application/json' }, status: 200, changes: true, unsubscribes: 1 },
  { name: 'one-click: multipart body', method: 'POST', path: (f) => `/u/${f.unsubscribeToken(2)}`, body: '--XYZ\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--XYZ--\r\n', headers: { 'content-type': 'multipart/form-data; boundary=XYZ' }, status: 200, changes: true, unsubscribes: 2 },
  { name: 'one-click: empty body, no content type', method: 'POST', path: (f) => `/u/${f.unsubscribeToken(3)}`, status: 200, changes: true, unsubscribes: 3 },
  { name: 'one-click: garbage content type', method: 'POST', path: (f) => `/u/${f.unsubscribeToken(4)}`, body: '\u0000\u0001', headers: { 'content-type': 'application/x-evil' }, status: 200, changes: true, unsubscribes: 4 },
  { name: 'unsubscribe page: forged', path: (f) => `/u/${f.unsubscribeToken(0).slice(0, -1)}B`, status: 404 },
  { name: 'resubscribe: forged', method: 'POST', path: (f) => `/u/${f.unsubscribeToken(0).slice(0, -1)}A/resubscribe`, status: 404 },
  { name: 'preferences: unsubscribe token', path: (f) => `/p/${f.unsubscribeToken(0)}`, status: 404 },
  { name: 'preferences: the long-lived link cannot export', method: 'POST', path: (f) => `/p/${f.preferencesToken}/export`, status: 404 },
  { name: 'preferences: the long-lived link cannot erase', method: 'POST', path: (f) => `/p/${f.preferencesToken}/erase`, status: 404 },
  { name: 'preferences data link: forged', method: 'POST', path: (f) => `/p/${f.preferencesToken.slice(0, -1)}x/data-link`, status: 404 },
  { name: 'preferences data link: cross-site', method: 'POST', path: (f) => `/p/${f.preferencesToken}/data-link`, headers: { 'sec-fetch-site': 'cross-site' }, status: 403 },
  { name: 'data link: unknown', path: `/data/${'A'.repeat(43)}`, status: 404 },
  { name: 'data erase: unknown', method: 'POST', path: `/data/${'A'.repeat(43)}/erase`, status: 404 },
  { name: 'data erase: a preferences token', method: 'POST', path: (f) => `/data/${f.preferencesToken}/erase`, status: 404 },
  // Admin
  { name: 'admin: no credentials', path: '/admin/subscribers/counts', status: 401 },
  { name: 'admin: empty bearer', path: '/admin/subscribers/counts', headers: { authorization: 'Bearer ' }, status: 401 },
  { name: 'admin: token with suffix', path: '/admin/subscribers/counts', headers: { authorization: `Bearer ${ADMIN_TOKEN} x` }, status: 401 },
  { name: 'admin: token in another case', path: '/admin/subscribers/counts', headers: { authorization: `Bearer ${ADMIN_TOKEN.toUpperCase()}` }, status: 401 },
  { name: 'admin: basic auth', path: '/admin/subscribers/counts', headers: { authorization: `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString('base64')}` }, status: 401 },
  { name: 'admin: token in the query', path: `/admin/subscribers/counts?token=${ADMIN_TOKEN}`, status: 401 },
  { name: 'admin: revoke without credentials', method: 'POST', path: (f) => `/admin/subscribers/${f.activeId}/revoke-links`, status: 401 },
  { name: 'admin: huge body without credentials', method: 'POST', path: (f) => `/admin/subscribers/${f.activeId}/revoke-links`, body: long(1024 * 1024), headers: { 'content-type': 'application/json' }, status: [401, 413] },
  { name: 'admin: SQL in the id', method: 'POST', path: `/admin/subscribers/${encodeURIComponent('1 or 1=1')}/revoke-links`, headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, status: 400 },
  { name: 'admin: id beyond 2^53', method: 'POST', path: '/admin/subscribers/99999999999999999999/revoke-links', headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, status: 400 },
  { name: 'admin: unknown id', method: 'POST', path: '/admin/subscribers/987654321/revoke-links', headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, status: 404 },
];

describe('hostile inputs', () => {
  let t: TestService;
  let fixtures: Fixtures;
  const expectedMail = new Set<string>();

  const mailIdle = () =>
    waitFor(async () => {
      const c = await t.service.queues.byName.mail.getJobCounts('active', 'waiting', 'delayed', 'prioritized');
      return (c.active ?? 0) + (c.waiting ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0) === 0;
    }, { what: 'mail queue idle', intervalMs: 10 });

  const snapshot = async () =>
    JSON.stringify(
      await Promise.all([
        t.service.db.selectFrom('subscribers').selectAll().orderBy('id').execute(),
        t.service.db.selectFrom('confirmation_tokens').select(['id', 'subscriber_id', 'used_at', 'expires_at']).orderBy('id').execute(),
        t.service.db.selectFrom('suppressions').selectAll().execute(),
      ]),
    );

  beforeAll(async () => {
    t = await startTestService({ ADMIN_TOKEN });
    const db = t.service.db;
    // A pending subscriber with a live confirmation token, taken from a real email.
    await fetch(`${t.baseUrl}/subscribe`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'pending@example.org' }) });
    expectedMail.add('pending@example.org');
    const [mail] = await waitFor(() => (t.sink.to('pending@example.org').length ? t.sink.to('pending@example.org') : undefined), { what: 'confirmation' });
    const confirmToken = /\/confirm\/([A-Za-z0-9_-]{43})/.exec(mail!.parsed.text!)![1]!;
    // An expired one for another pending subscriber.
    await fetch(`${t.baseUrl}/subscribe`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'expired@example.org' }) });
    expectedMail.add('expired@example.org');
    const [expiredMail] = await waitFor(() => (t.sink.to('expired@example.org').length ? t.sink.to('expired@example.org') : undefined), { what: 'confirmation' });
    const expiredConfirmToken = /\/confirm\/([A-Za-z0-9_-]{43})/.exec(expiredMail!.parsed.text!)![1]!;
    const expiredRow = await db.selectFrom('subscribers').select('id').where('email', '=', 'expired@example.org').executeTakeFirstOrThrow();
    await db.updateTable('confirmation_tokens').set({ expires_at: new Date(Date.now() - 60_000) }).where('subscriber_id', '=', expiredRow.id).execute();
    const active = await db
      .insertInto('subscribers')
      .values(Array.from({ length: 5 }, (_, i) => ({ email: `active-${i}@example.org`, status: 'active' as const, confirmed_at: new Date() })))
      .returning(['id', 'token_version'])
      .execute();
    fixtures = {
      confirmToken,
      expiredConfirmToken,
      unsubscribeToken: (n) => createSubscriberToken(t.config.secret, 'unsubscribe', active[n]!.id, active[n]!.token_version),
      preferencesToken: createSubscriberToken(t.config.secret, 'preferences', active[0]!.id, active[0]!.token_version),
      activeId: active[0]!.id,
    };
  });
  afterAll(async () => t?.stop());

  /** Cases that ran to their last assertion. */
  const passed = new Set<string>();

  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const path = typeof c.path === 'function' ? c.path(fixtures) : c.path;
    const headers: Record<string, string> = { ...c.headers };
    let body: string | Buffer | undefined;
    if (typeof c.body === 'object' && !Buffer.isBuffer(c.body)) {
      body = c.json ? JSON.stringify(c.body) : form(c.body);
      headers['content-type'] ??= c.json ? 'application/json' : 'application/x-www-form-urlencoded';
    } else if (c.body !== undefined) {
      body = c.body;
      if (c.json) headers['content-type'] ??= 'application/json';
    }
    // Earlier cases' confirmation emails are made in the background: let them finish first.
    await mailIdle();
    const before = await snapshot();
    const subscriberStatus = (n: number) =>
      t.service.db.selectFrom('subscribers').select('status').where('email', '=', `active-${n}@example.org`).executeTakeFirstOrThrow().then((r) => r.status);
    if (c.unsubscribes !== undefined) expect(await subscriberStatus(c.unsubscribes)).toBe('active');
    const res = await fetch(`${t.baseUrl}${path}`, { method: c.method ?? 'GET', headers, body, redirect: 'manual' });
    const text = await res.text();
    expect(res.status, text.slice(0, 300)).toBeLessThan(500);
    expect([c.status].flat(), `${res.status}: ${text.slice(0, 300)}`).toContain(res.status);
    expect(res.headers.get('location')).toBeNull();
    await mailIdle();
    if (!c.changes) expect(await snapshot()).toBe(before);
    // A case that may change the database says which change, and the change is checked on the row.
    else expect(c.mailsTo ?? c.unsubscribes, 'a changing case names its change').toBeDefined();
    if (c.unsubscribes !== undefined) expect(await subscriberStatus(c.unsubscribes)).toBe('unsubscribed');
    if (c.mailsTo) {
      expectedMail.add(c.mailsTo);
      const row = await t.service.db.selectFrom('subscribers').select(['email', 'status']).where('email', '=', c.mailsTo).executeTakeFirst();
      expect(row, `stored as ${c.mailsTo}`).toMatchObject({ email: c.mailsTo, status: 'pending' });
    }
    passed.add(c.name);
  });

  it('ran every one of its (at least 60, distinct) cases to the end', () => {
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
    expect(cases.length).toBeGreaterThanOrEqual(60);
    expect([...passed].sort()).toEqual(cases.map((c) => c.name).sort());
  });

  it('mailed exactly the accepted addresses, once each, with nothing injected into any header', async () => {
    await mailIdle();
    // smtp-server shows IDN domains decoded; compare in the A-label form we stored.
    const recipients = t.sink.messages.flatMap((m) => m.envelopeTo).map((a) => `${a.slice(0, a.lastIndexOf('@'))}@${domainToASCII(a.slice(a.lastIndexOf('@') + 1))}`);
    expect([...recipients].sort()).toEqual([...expectedMail].sort());
    for (const message of t.sink.messages) {
      expect(message.envelopeTo).toHaveLength(1);
      const headerBlock = message.raw.split(/\r?\n\r?\n/, 1)[0]!;
      expect(headerBlock).not.toMatch(/^(bcc|cc):/im);
      expect(headerBlock.toLowerCase()).not.toContain('evil.test');
      expect(message.headerLines('To')).toHaveLength(1);
      // Links come from PUBLIC_URL, never from the request's Host or X-Forwarded-Host.
      expect(message.parsed.text).toMatch(/https:\/\/papers\.example\.test\/confirm\/[A-Za-z0-9_-]{43}/);
    }
  });
});
