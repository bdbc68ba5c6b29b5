import { Writable } from 'node:stream';
import { sign } from '@fastify/cookie';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deriveConsoleKey } from '../../src/admin/session.ts';
import { createLogger } from '../../src/logger.ts';
import { listRoutes } from '../helpers/routes.ts';
import { csrfOf, formPost, sessionCookieOf, signIn } from '../helpers/admin-console.ts';
import { deleteQueuePrefix, startTestService, testRedisUrl, type TestService } from '../helpers/service.ts';

const ADMIN_TOKEN = 'console-token-0123456789-abcdef';
const COOKIE = '__Secure-paperboy-admin';

describe('admin console sign-in, session and CSRF', () => {
  let t: TestService;
  const logLines: string[] = [];
  beforeAll(async () => {
    const sink = new Writable({
      write(chunk, _enc, done) {
        logLines.push(String(chunk));
        done();
      },
    });
    t = await startTestService({ ADMIN_TOKEN, LOG_LEVEL: 'info', RATE_LIMIT_ADMIN_SIGN_IN: '4/1m' }, { log: createLogger('info', 'paperboy', sink) });
  });
  afterAll(async () => t?.stop());

  const sessions = async () => Number((await t.service.db.selectFrom('admin_sessions').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
  const resetSignInLimit = () => deleteQueuePrefix(testRedisUrl, t.config.rateLimits.namespace);

  it('answers every console page without a session with the sign-in form and 401', async () => {
    for (const path of ['/admin', '/admin/']) {
      const res = await fetch(`${t.baseUrl}${path}`);
      expect(res.status).toBe(401);
      const html = await res.text();
      expect(html).toContain('action="/admin/sign-in"');
      expect(html).toContain('type="password"');
      expect(res.headers.get('cache-control')).toBe('no-store');
    }
  });

  it('needs a session on every console route but the sign-in page, and keeps them out of the OpenAPI document', async () => {
    const consoleRoutes = listRoutes(t.service.app!).filter((r) => r.url.startsWith('/admin') && r.hidden && !r.url.startsWith('/admin/sign-in'));
    expect(consoleRoutes.length).toBeGreaterThanOrEqual(10);
    for (const { method, url } of consoleRoutes) {
      const res = await fetch(`${t.baseUrl}${url.replace(/:[^/]+/g, '1').replace(/\*$/, '')}`, { method, headers: method === 'GET' ? {} : { 'content-type': 'application/x-www-form-urlencoded' }, body: method === 'GET' ? undefined : '' });
      expect(res.status, `${method} ${url}`).toBe(401);
    }
    const documented = Object.keys((t.service.app!.swagger() as { paths: object }).paths);
    expect(documented.filter((p) => /^\/admin\/(edition\/|people|sign-|queues|import|papers)/.test(p) || p === '/admin')).toEqual([]);
  });

  it('refuses a wrong token with 401, no cookie, no session, and never logs or echoes the token', async () => {
    await resetSignInLimit();
    const wrong = 'wrong-token-that-must-not-be-logged';
    const res = await formPost(t.baseUrl, '/admin/sign-in', { token: wrong });
    expect(res.status).toBe(401);
    expect(res.headers.getSetCookie()).toEqual([]);
    const html = await res.text();
    expect(html).toContain('That is not the admin token.');
    expect(html).not.toContain(wrong);
    expect(await sessions()).toBe(0);
    expect(logLines.join('')).toContain('admin console sign-in refused');
    expect(logLines.join('')).not.toContain(wrong);
  });

  it('signs in with a signed, HttpOnly, Secure, SameSite=Strict cookie that expires, and returns to the page asked for', async () => {
    await resetSignInLimit();
    const res = await formPost(t.baseUrl, '/admin/sign-in', { token: ADMIN_TOKEN, next: '/admin/people?q=a' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/admin/people?q=a');
    const setCookie = res.headers.getSetCookie().find((c) => c.startsWith(`${COOKIE}=`))!;
    expect(setCookie).toMatch(/; HttpOnly/);
    expect(setCookie).toMatch(/; Secure/);
    expect(setCookie).toMatch(/; SameSite=Strict/);
    expect(setCookie).toMatch(/; Path=\/admin/);
    expect(setCookie).toMatch(/; Max-Age=43200/);
    expect(setCookie).not.toContain(ADMIN_TOKEN);
    expect(logLines.join('')).not.toContain(ADMIN_TOKEN);
    const home = await fetch(`${t.baseUrl}/admin`, { headers: { cookie: sessionCookieOf(res) } });
    expect(home.status).toBe(200);
    expect(await home.text()).toContain('Sign out');
  });

  it('never returns to another site after sign-in', async () => {
    await resetSignInLimit();
    for (const next of ['https://evil.example/', '//evil.example/admin', '/admin//evil.example', '/\\evil.example']) {
      const res = await formPost(t.baseUrl, '/admin/sign-in', { token: ADMIN_TOKEN, next });
      expect(res.headers.get('location')).toBe('/admin');
    }
  });

  it('treats a forged, re-signed or expired session cookie as none', async () => {
    await resetSignInLimit();
    const client = await signIn(t.baseUrl, ADMIN_TOKEN);
    const [name, value] = client.cookie.split('=') as [string, string];
    const decoded = decodeURIComponent(value);
    const token = decoded.slice(0, decoded.lastIndexOf('.'));
    const cases = {
      altered: `${name}=${encodeURIComponent(`${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}${decoded.slice(decoded.lastIndexOf('.'))}`)}`,
      unsigned: `${name}=${encodeURIComponent(token)}`,
      otherKey: `${name}=${encodeURIComponent(sign(token, deriveConsoleKey('another-secret-of-some-length-000000', 'admin-session-cookie')))}`,
      rawSecretKey: `${name}=${encodeURIComponent(sign(token, t.config.secret))}`,
    };
    for (const [what, cookie] of Object.entries(cases)) {
      const res = await fetch(`${t.baseUrl}/admin`, { headers: { cookie } });
      expect(res.status, what).toBe(401);
    }
    expect((await client.get('/admin')).status).toBe(200);
    await t.service.db.updateTable('admin_sessions').set({ expires_at: new Date(Date.now() - 1000) }).execute();
    expect((await client.get('/admin')).status).toBe(401);
    const post = await client.post('/admin/sign-out');
    expect(post.status).toBe(401);
  });

  it('refuses a sign-out without the form token or from another site, and revokes the session on sign-out', async () => {
    await resetSignInLimit();
    const client = await signIn(t.baseUrl, ADMIN_TOKEN);
    const before = await sessions();
    expect((await client.post('/admin/sign-out', { _csrf: '' })).status).toBe(403);
    expect((await formPost(t.baseUrl, '/admin/sign-out', {}, { cookie: client.cookie })).status).toBe(403);
    expect((await client.post('/admin/sign-out', { _csrf: `${client.csrf.slice(0, -1)}A` === client.csrf ? `${client.csrf.slice(0, -1)}B` : `${client.csrf.slice(0, -1)}A` })).status).toBe(403);
    // A form another site posts, even with the right fields.
    const crossSite = await client.post('/admin/sign-out', {}, { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' });
    expect(crossSite.status).toBe(403);
    expect(await sessions()).toBe(before);
    expect((await client.get('/admin')).status).toBe(200);

    const out = await client.post('/admin/sign-out');
    expect(out.status).toBe(303);
    expect(out.headers.get('location')).toBe('/admin/sign-in');
    expect(out.headers.getSetCookie().join(';')).toMatch(new RegExp(`${COOKIE}=;`));
    expect(await sessions()).toBe(before - 1);
    // The old cookie is worth nothing now, wherever it was copied.
    expect((await client.get('/admin')).status).toBe(401);
  });

  it('gives each session its own form token', async () => {
    await resetSignInLimit();
    const a = await signIn(t.baseUrl, ADMIN_TOKEN);
    const b = await signIn(t.baseUrl, ADMIN_TOKEN);
    expect(a.csrf).not.toBe(b.csrf);
    expect((await formPost(t.baseUrl, '/admin/sign-out', { _csrf: b.csrf }, { cookie: a.cookie })).status).toBe(403);
    expect(csrfOf(await (await a.get('/admin')).text())).toBe(a.csrf);
  });

  it('rate-limits sign-in attempts per client, the right token included once the limit is reached', async () => {
    await resetSignInLimit();
    for (let i = 0; i < 4; i++) expect((await formPost(t.baseUrl, '/admin/sign-in', { token: `guess-${i}` })).status).toBe(401);
    const limited = await formPost(t.baseUrl, '/admin/sign-in', { token: ADMIN_TOKEN });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(limited.headers.getSetCookie()).toEqual([]);
  });

  it('keeps the bearer JSON API as it was: a console cookie is no bearer token', async () => {
    await resetSignInLimit();
    const client = await signIn(t.baseUrl, ADMIN_TOKEN);
    expect((await fetch(`${t.baseUrl}/admin/editions`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).status).toBe(200);
    expect((await fetch(`${t.baseUrl}/admin/editions`, { headers: { cookie: client.cookie } })).status).toBe(401);
  });

  it('never links to the console from the public pages', async () => {
    for (const path of ['/', '/archive']) {
      const html = await (await fetch(`${t.baseUrl}${path}`)).text();
      expect(html).not.toMatch(/href="\/admin/);
    }
  });
});
