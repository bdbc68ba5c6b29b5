import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { sendConfirmationEmail } from '../../src/subscribers/subscription.service.ts';
import { suppressionHash } from '../../src/subscribers/suppression.repository.ts';
import { createFormToken, createSubscriberToken } from '../../src/subscribers/tokens.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { listRoutes } from '../helpers/routes.ts';
import { waitFor } from '../helpers/wait-for.ts';

const ADMIN_TOKEN = `admin-${randomBytes(16).toString('hex')}`;
const OLD_SECRET = randomBytes(32).toString('hex');

describe('abuse-proof subscription flows', () => {
  let t: TestService;
  const logLines: string[] = [];
  beforeAll(async () => {
    const sink = new Writable({
      write(chunk, _enc, done) {
        logLines.push(String(chunk));
        done();
      },
    });
    t = await startTestService(
      { ADMIN_TOKEN, SECRET_PREVIOUS: OLD_SECRET, FORM_MIN_FILL_SECONDS: '1', LOG_LEVEL: 'info' },
      { log: createLogger('info', 'paperboy', sink) },
    );
  });
  afterAll(async () => t?.stop());

  const db = () => t.service.db;
  const post = (path: string, body: string, headers: Record<string, string> = {}) =>
    fetch(`${t.baseUrl}${path}`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body });
  const subscriber = (email: string) => db().selectFrom('subscribers').selectAll().where('email', '=', email).executeTakeFirst();
  const mailIdle = () => waitFor(async () => {
    const c = await t.service.queues.byName.mail.getJobCounts('active', 'waiting', 'delayed', 'prioritized');
    return (c.active ?? 0) + (c.waiting ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0) === 0;
  }, { what: 'mail queue idle' });
  const formTokenAged = (ms: number) => createFormToken(t.config.secret, Date.now() - ms);
  /** Asks for a data link through the preferences page and returns the /data/… path mailed to `email`. */
  const dataLinkFor = async (prefsPath: string, email: string) => {
    const before = t.sink.to(email).filter((m) => m.parsed.subject?.startsWith('Your Paperboy data')).length;
    const asked = await post(`${prefsPath}/data-link`, '');
    expect(asked.status).toBe(200);
    expect(await asked.text()).toContain('Check your inbox');
    const mail = await waitFor(() => t.sink.to(email).filter((m) => m.parsed.subject?.startsWith('Your Paperboy data'))[before], { what: 'data link email', timeoutMs: 60_000 });
    return /https:\/\/papers\.example\.test(\/data\/[A-Za-z0-9_-]{43})/.exec(mail.parsed.text!)![1]!;
  };

  describe('bot defence', () => {
    it('drops a filled honeypot with the neutral answer and no email', async () => {
      const human = await post('/subscribe', new URLSearchParams({ email: 'human@example.org', formToken: formTokenAged(5000) }).toString());
      const bot = await post('/subscribe', new URLSearchParams({ email: 'bot@example.org', website: 'http://spam', formToken: formTokenAged(5000) }).toString());
      expect(bot.status).toBe(human.status);
      expect(await bot.text()).toBe(await human.text());
      await mailIdle();
      expect(await subscriber('bot@example.org')).toBeUndefined();
      expect(t.sink.to('bot@example.org')).toHaveLength(0);
      await waitFor(() => t.sink.to('human@example.org').length === 1, { what: 'human confirmation' });
    });

    it.each([
      ['too fast', () => formTokenAged(100)],
      ['tampered signature', () => formTokenAged(5000).replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'))],
      ['tampered time', () => { const [, sig] = formTokenAged(100).split('.'); return `${(Date.now() - 60_000).toString(36)}.${sig}`; }],
      ['signed with an unknown secret', () => createFormToken(randomBytes(32).toString('hex'), Date.now() - 5000)],
      ['too old', () => formTokenAged(25 * 3600 * 1000)],
      ['missing', () => ''],
    ])('drops a form post whose time token is %s', async (_name, token) => {
      const email = `trap-${randomBytes(4).toString('hex')}@example.org`;
      const res = await post('/subscribe', new URLSearchParams({ email, formToken: token() }).toString());
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('Check your inbox');
      await mailIdle();
      expect(await subscriber(email)).toBeUndefined();
      expect(t.sink.to(email)).toHaveLength(0);
    });

    it('accepts a form token signed with SECRET_PREVIOUS during a rotation', async () => {
      const email = 'rotated-form@example.org';
      await post('/subscribe', new URLSearchParams({ email, formToken: createFormToken(OLD_SECRET, Date.now() - 5000) }).toString());
      await waitFor(() => t.sink.to(email).length === 1, { what: 'confirmation' });
    });

    it('serves the form with a fresh signed time token', async () => {
      const page = await (await fetch(`${t.baseUrl}/`)).text();
      const token = /name="formToken" value="([^"]+)"/.exec(page)?.[1];
      expect(token).toMatch(/^[0-9a-z]+\.[A-Za-z0-9_-]{22}$/);
    });

    it('sends at most one confirmation per address per window, however often it is requested', async () => {
      const email = 'often@example.org';
      for (let i = 0; i < 12; i++) {
        const res = await post('/subscribe', new URLSearchParams({ email, formToken: formTokenAged(5000) }).toString());
        expect(res.status).toBe(200);
        if (i % 4 === 0) await mailIdle();
      }
      await mailIdle();
      expect(t.sink.to(email)).toHaveLength(1);
      const row = (await subscriber(email))!;
      // The worker itself refuses a second mail inside the window, whatever the queue does.
      const deps = { db: db(), mailer: { send: async () => { throw new Error('must not send'); }, close: async () => {} } as never, publicUrl: t.config.publicUrl, mailFrom: t.config.mailFrom };
      expect(await sendConfirmationEmail(deps, row.id)).toBe('recently_sent');
      const tokens = await db().selectFrom('confirmation_tokens').select('id').where('subscriber_id', '=', row.id).execute();
      expect(tokens).toHaveLength(1);
    });
  });

  it('stops confirmation mail past the hourly cap across all addresses', async () => {
    const issued = Number((await db().selectFrom('confirmation_tokens').select((eb) => eb.fn.countAll<string>().as('n')).where('created_at', '>', new Date(Date.now() - 3600_000)).executeTakeFirstOrThrow()).n);
    const [row] = await db().insertInto('subscribers').values({ email: 'capped@example.org', status: 'pending' }).returningAll().execute();
    const sent: unknown[] = [];
    const deps = (maxPerHour: number) => ({ db: db(), mailer: { send: async (m: unknown) => void sent.push(m), close: async () => {} } as never, publicUrl: t.config.publicUrl, mailFrom: t.config.mailFrom, maxPerHour });
    expect(await sendConfirmationEmail(deps(issued), row!.id)).toBe('over_hourly_cap');
    expect(sent).toHaveLength(0);
    expect(await sendConfirmationEmail(deps(issued + 1), row!.id)).toBe('sent');
    expect(sent).toHaveLength(1);
  });

  describe('CSRF on form posts', () => {
    const body = () => new URLSearchParams({ email: `csrf-${randomBytes(3).toString('hex')}@example.org`, formToken: formTokenAged(5000) }).toString();
    it.each([
      [{ 'sec-fetch-site': 'cross-site' }],
      [{ 'sec-fetch-site': 'same-site' }],
      [{ origin: 'https://evil.example' }],
      [{ origin: 'null' }],
      [{ origin: 'https://evil.example', 'sec-fetch-site': 'same-origin' }],
    ])('refuses %o with 403 and stores nothing', async (headers) => {
      const before = await db().selectFrom('subscribers').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
      const res = await post('/subscribe', body(), headers);
      expect(res.status).toBe(403);
      const after = await db().selectFrom('subscribers').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
      expect(after.n).toBe(before.n);
    });

    it('accepts a same-origin browser post (Origin of the public URL or of the host served)', async () => {
      expect((await post('/subscribe', body(), { origin: t.config.publicUrl, 'sec-fetch-site': 'same-origin' })).status).toBe(200);
      expect((await post('/subscribe', body(), { origin: t.baseUrl })).status).toBe(200);
    });

    it('refuses a cross-site confirm POST but exempts the one-click unsubscribe', async () => {
      const [row] = await db().insertInto('subscribers').values({ email: 'csrf-active@example.org', status: 'active' }).returningAll().execute();
      const token = createSubscriberToken(t.config.secret, 'unsubscribe', row!.id, row!.token_version);
      expect((await post(`/u/${token}/resubscribe`, '', { 'sec-fetch-site': 'cross-site' })).status).toBe(403);
      const oneClick = await post(`/u/${token}`, 'List-Unsubscribe=One-Click', { 'sec-fetch-site': 'cross-site', cookie: 'sid=x', authorization: 'Bearer nonsense' });
      expect(oneClick.status).toBe(200);
      expect(oneClick.headers.get('location')).toBeNull();
      expect((await subscriber('csrf-active@example.org'))!.status).toBe('unsubscribed');
    });
  });

  describe('link tokens', () => {
    it('accepts links signed with SECRET_PREVIOUS and refuses other secrets, other purposes and old versions', async () => {
      const [row] = await db().insertInto('subscribers').values({ email: 'rotate@example.org', status: 'active' }).returningAll().execute();
      const id = row!.id;
      const forged = createSubscriberToken(randomBytes(32).toString('hex'), 'unsubscribe', id, 1);
      const wrongPurpose = createSubscriberToken(t.config.secret, 'preferences', id, 1);
      for (const token of [forged, wrongPurpose]) {
        expect((await post(`/u/${token}`, 'List-Unsubscribe=One-Click')).status).toBe(404);
      }
      expect((await subscriber('rotate@example.org'))!.status).toBe('active');
      const old = createSubscriberToken(OLD_SECRET, 'unsubscribe', id, 1);
      expect((await post(`/u/${old}`, 'List-Unsubscribe=One-Click')).status).toBe(200);
      expect((await subscriber('rotate@example.org'))!.status).toBe('unsubscribed');
      // Revocation: bumping the version (admin) kills every earlier link.
      const revoked = await fetch(`${t.baseUrl}/admin/subscribers/${id}/revoke-links`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      expect(revoked.status).toBe(200);
      expect((await fetch(`${t.baseUrl}/u/${old}`)).status).toBe(404);
      expect((await fetch(`${t.baseUrl}/u/${createSubscriberToken(t.config.secret, 'unsubscribe', id, 2)}`)).status).toBe(200);
    });

    it('answers an expired confirmation link with 410 and changes nothing', async () => {
      const email = 'expired@example.org';
      await post('/subscribe', new URLSearchParams({ email, formToken: formTokenAged(5000) }).toString());
      const [mail] = await waitFor(() => (t.sink.to(email).length ? t.sink.to(email) : undefined), { what: 'confirmation' });
      const path = /https:\/\/papers\.example\.test(\/confirm\/[A-Za-z0-9_-]+)/.exec(mail!.parsed.text!)![1]!;
      await db().updateTable('confirmation_tokens').set({ expires_at: new Date(Date.now() - 1000) }).execute();
      expect((await fetch(`${t.baseUrl}${path}`)).status).toBe(410);
      const res = await post(path, '');
      expect(res.status).toBe(410);
      expect((await subscriber(email))!.status).toBe('pending');
    });
  });

  describe('privacy: preferences page, export, erasure', () => {
    it('exports the data as JSON and erases it, leaving only a hash that a new opt-in lifts', async () => {
      const email = 'Grace.Hopper@example.org';
      await post('/subscribe', new URLSearchParams({ email, topics: 'compilers', formToken: formTokenAged(5000) }).toString(), { 'user-agent': 'UA-Test/1.0' });
      const [mail] = await waitFor(() => (t.sink.to(email).length ? t.sink.to(email) : undefined), { what: 'confirmation' });
      const confirmPath = /https:\/\/papers\.example\.test(\/confirm\/[A-Za-z0-9_-]+)/.exec(mail!.parsed.text!)![1]!;
      expect((await post(confirmPath, '')).status).toBe(200);
      const row = (await subscriber(email))!;
      expect(row.status).toBe('active');

      // Reached from the unsubscribe page, through a token of its own purpose.
      const unsubscribeToken = createSubscriberToken(t.config.secret, 'unsubscribe', row.id, row.token_version);
      const unsubscribePage = await (await fetch(`${t.baseUrl}/u/${unsubscribeToken}`)).text();
      const prefsPath = /href="(\/p\/[^"]+)"/.exec(unsubscribePage)?.[1];
      expect(prefsPath).toBeTruthy();
      const prefs = await fetch(`${t.baseUrl}${prefsPath}`);
      expect(prefs.status).toBe(200);
      expect(prefs.headers.get('cache-control')).toBe('no-store');
      expect(prefs.headers.get('x-robots-tag')).toContain('noindex');
      const html = await prefs.text();
      expect(html).toContain('Grace.Hopper@example.org');
      // The long-lived link (it sits in every digest) can only have a short-lived one mailed.
      expect(html).toContain(`action="${prefsPath}/data-link"`);
      expect(html).not.toContain('/export');
      for (const action of ['export', 'erase']) expect((await post(`${prefsPath}/${action}`, '')).status).toBe(404);
      // The preferences token is not an unsubscribe token, and vice versa.
      expect((await fetch(`${t.baseUrl}/p/${unsubscribeToken}`)).status).toBe(404);
      expect((await post(`/p/${unsubscribeToken}/data-link`, '')).status).toBe(404);

      const dataPath = await dataLinkFor(prefsPath!, email);
      const dataPage = await fetch(`${t.baseUrl}${dataPath}`);
      expect(dataPage.status).toBe(200);
      expect(dataPage.headers.get('x-robots-tag')).toContain('noindex');
      const dataHtml = await dataPage.text();
      expect(dataHtml).toContain(`action="${dataPath}/export"`);
      expect(dataHtml).toContain(`action="${dataPath}/erase"`);
      const exported = await post(`${dataPath}/export`, '');
      expect(exported.status).toBe(200);
      expect(exported.headers.get('content-disposition')).toContain('attachment');
      const data = (await exported.json()) as { subscriber: object; consentHistory: { event: string; at: string; ip: string; userAgent: string | null; source: string }[] };
      expect(data.subscriber).toMatchObject({ email, status: 'active', topics: ['compilers'] });
      expect(data.consentHistory.map((e) => [e.event, e.userAgent, e.source])).toEqual([
        ['subscribed', 'UA-Test/1.0', 'web'],
        ['confirmed', 'node', 'confirmation link'],
      ]);
      expect(data.consentHistory.every((e) => e.ip === '127.0.0.1' && !Number.isNaN(Date.parse(e.at)))).toBe(true);
      expect(JSON.stringify(data)).not.toContain('human@example.org');

      const erased = await post(`${dataPath}/erase`, '');
      expect(erased.status).toBe(200);
      expect(await erased.text()).toContain('Your data is erased');
      expect(await subscriber(email)).toBeUndefined();
      const suppressions = await db().selectFrom('suppressions').selectAll().execute();
      expect(suppressions.map((s) => s.address_hash.toString('hex'))).toContain(suppressionHash(email).toString('hex'));
      // No table holds the address any more.
      const dump = JSON.stringify(await Promise.all([
        db().selectFrom('subscribers').selectAll().execute(),
        db().selectFrom('suppressions').selectAll().execute(),
      ]));
      expect(dump.toLowerCase()).not.toContain('grace.hopper');
      // Dead links: a clear 4xx, nothing changes.
      expect((await fetch(`${t.baseUrl}${prefsPath}`)).status).toBe(404);
      expect((await fetch(`${t.baseUrl}${dataPath}`)).status).toBe(404);
      expect((await post(`${dataPath}/erase`, '')).status).toBe(404);

      // Subscribing again needs a new opt-in; confirming it lifts the suppression.
      await mailIdle();
      const before = t.sink.to(email).length;
      await post('/subscribe', new URLSearchParams({ email, formToken: formTokenAged(5000) }).toString());
      const again = await waitFor(() => (t.sink.to(email).length > before ? t.sink.to(email).at(-1) : undefined), { what: 'new confirmation' });
      expect((await subscriber(email))!.status).toBe('pending');
      const newPath = /https:\/\/papers\.example\.test(\/confirm\/[A-Za-z0-9_-]+)/.exec(again.parsed.text!)![1]!;
      expect((await post(newPath, '')).status).toBe(200);
      expect((await subscriber(email))!.status).toBe('active');
      expect(await db().selectFrom('suppressions').selectAll().where('address_hash', '=', suppressionHash(email)).executeTakeFirst()).toBeUndefined();
    });
  });

  describe('privacy: export and erasure of a subscriber with history', () => {
    it('exports the ledger, papers and soft bounces, and erasure removes them all', async () => {
      const d = db();
      const [row] = await d.insertInto('subscribers').values({ email: 'history@example.org', status: 'active', confirmed_at: new Date() }).returningAll().execute();
      const [other] = await d.insertInto('subscribers').values({ email: 'bystander@example.org', status: 'active' }).returningAll().execute();
      await d.insertInto('papers').values({ arxiv_id: '2512.99999', title: 'A paper', abstract: '', authors: [], upvotes: 1, comments: 0 }).execute();
      const [edition] = await d.insertInto('editions').values({ digest_date: '2025-12-26', status: 'ready', paper_ids: ['2512.99999'], subject: 's', html_template: '', text_template: '' }).returning('id').execute();
      const [run] = await d.insertInto('send_runs').values({ edition_id: edition!.id, status: 'sent' }).returning('id').execute();
      // What a person received is derived from their sent deliveries: nothing is stored per paper.
      await d.insertInto('deliveries').values([
        { run_id: run!.id, subscriber_id: row!.id, status: 'sent', message_id: '<m1@x>', sent_at: new Date() },
        { run_id: run!.id, subscriber_id: other!.id, status: 'sent', message_id: '<m2@x>', sent_at: new Date() },
      ]).execute();
      await d.insertInto('soft_bounces').values({ subscriber_id: row!.id, consecutive: 1, first_at: new Date(), last_at: new Date(), last_edition_id: edition!.id, last_response: '452 4.2.2 mailbox full' }).execute();
      const prefs = createSubscriberToken(t.config.secret, 'preferences', row!.id, row!.token_version);
      const dataPath = await dataLinkFor(`/p/${prefs}`, 'history@example.org');

      const data = (await (await post(`${dataPath}/export`, '')).json()) as { deliveries: { messageId: string }[]; papersReceived: { arxivId: string }[]; softBounces: { consecutive: number } };
      expect(data.deliveries.map((x) => x.messageId)).toEqual(['<m1@x>']);
      expect(data.papersReceived.map((x) => x.arxivId)).toEqual(['2512.99999']);
      expect(data.softBounces.consecutive).toBe(1);
      expect(JSON.stringify(data)).not.toContain('bystander');

      expect((await post(`${dataPath}/erase`, '', { accept: 'application/json' })).status).toBe(200);
      for (const table of ['deliveries', 'soft_bounces'] as const) {
        const left = await d.selectFrom(table).select('subscriber_id').where('subscriber_id', '=', row!.id).execute();
        expect(left, table).toHaveLength(0);
      }
      expect(await d.selectFrom('deliveries').select('id').where('subscriber_id', '=', other!.id).execute()).toHaveLength(1);
      // A token of the erased person keeps answering 404, also for one-click.
      expect((await post(`/u/${createSubscriberToken(t.config.secret, 'unsubscribe', row!.id, row!.token_version)}`, 'List-Unsubscribe=One-Click')).status).toBe(404);
    });
  });

  describe('admin', () => {
    it('requires the bearer token on every admin API route, compared exactly', async () => {
      // The JSON API is what the OpenAPI document lists; the console's pages (src/http/admin-console.ts)
      // are hidden from it and need a session instead (test/integration/admin-console-auth.test.ts).
      const adminPaths = listRoutes(t.service.app!)
        .filter((r) => r.url.startsWith('/admin/') && !r.hidden)
        .map((r) => ({ method: r.method, path: r.url.replace(/:[^/]+/g, '1') }));
      expect(adminPaths.length).toBeGreaterThanOrEqual(6);
      for (const { method, path } of adminPaths) {
        for (const authorization of [undefined, 'Bearer', `Bearer ${ADMIN_TOKEN}x`, `Bearer ${ADMIN_TOKEN.slice(0, -1)}`, `Basic ${ADMIN_TOKEN}`, ADMIN_TOKEN]) {
          const res = await fetch(`${t.baseUrl}${path}`, { method, headers: authorization ? { authorization } : {} });
          expect(res.status, `${method} ${path} with ${authorization}`).toBe(401);
          expect(res.headers.get('www-authenticate')).toContain('Bearer');
        }
      }
      const ok = await fetch(`${t.baseUrl}/admin/subscribers/counts`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      expect(ok.status).toBe(200);
      expect(((await ok.json()) as { counts: object }).counts).toHaveProperty('active');
    });

    it('never writes the admin token or link tokens to the logs', async () => {
      await fetch(`${t.baseUrl}/admin/subscribers/counts`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      await fetch(`${t.baseUrl}/admin/subscribers/counts`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}-wrong` } });
      const token = createSubscriberToken(t.config.secret, 'unsubscribe', 424242, 1);
      await fetch(`${t.baseUrl}/u/${token}`);
      const logs = logLines.join('');
      expect(logs.length).toBeGreaterThan(0);
      expect(logs).toContain('/u/[token]');
      expect(logs).not.toContain(ADMIN_TOKEN);
      expect(logs).not.toContain(token);
    });
  });

  describe('headers', () => {
    it('serves pages with a CSP they satisfy, and token pages uncached and unindexed', async () => {
      const res = await fetch(`${t.baseUrl}/`);
      const csp = res.headers.get('content-security-policy')!;
      expect(csp).toContain("object-src 'none'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toContain('unsafe');
      expect(res.headers.get('referrer-policy')).toBe('same-origin');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      const html = await res.text();
      // No inline script or style for the CSP to block.
      expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
      expect(html).not.toMatch(/<style|style="/);
      const token = await fetch(`${t.baseUrl}/confirm/${'a'.repeat(43)}`);
      expect(token.headers.get('cache-control')).toBe('no-store');
      expect(token.headers.get('x-robots-tag')).toContain('noindex');
    });
  });
});
