import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendConsentEvent } from '../../src/subscribers/subscriber.repository.ts';
import { suppressionHash } from '../../src/subscribers/suppression.repository.ts';
import { createSubscriberToken } from '../../src/subscribers/tokens.ts';
import { signIn, type ConsoleClient } from '../helpers/admin-console.ts';
import { startTestService, type TestService } from '../helpers/service.ts';

const ADMIN_TOKEN = 'console-subscribers-token-0123456789';
const ADDRESSES = ['alice@example.org', 'al_x@example.org', 'alpha@example.org', 'alxy@example.org', '%percent@example.org', "o'brien@example.org", 'bob@example.net', 'erase-me@example.net'];

describe('admin console: subscribers', () => {
  let t: TestService;
  let admin: ConsoleClient;
  const ids: Record<string, number> = {};
  beforeAll(async () => {
    t = await startTestService({ ADMIN_TOKEN });
    const rows = await t.service.db
      .insertInto('subscribers')
      .values(ADDRESSES.map((email) => ({ email, status: 'active' as const, confirmed_at: new Date() })))
      .returning(['id', 'email'])
      .execute();
    for (const row of rows) ids[row.email] = row.id;
    await appendConsentEvent(t.service.db, ids['alice@example.org']!, { kind: 'confirmed', ip: '198.51.100.7', userAgent: 'Test/1.0', source: 'confirmation link' });
    admin = await signIn(t.baseUrl, ADMIN_TOKEN);
  });
  afterAll(async () => t?.stop());

  const subscriber = (email: string) => t.service.db.selectFrom('subscribers').selectAll().where('email', '=', email).executeTakeFirst();
  const found = async (query: string) => {
    const res = await admin.get(`/admin/people?${query}`);
    expect(res.status, query).toBe(200);
    return [...(await res.text()).matchAll(/<a href="\/admin\/people\/\d+">([^<]+)<\/a>/g)].map((m) => m[1]!.replace(/&#x27;/g, "'").replace(/&#39;/g, "'")).sort();
  };

  it('searches by prefix or whole address, case-insensitively, with LIKE wildcards and quotes taken literally', async () => {
    expect(await found('q=al')).toEqual(['al_x@example.org', 'alice@example.org', 'alpha@example.org', 'alxy@example.org']);
    expect(await found('q=al_')).toEqual(['al_x@example.org']);
    expect(await found('q=%25')).toEqual(['%percent@example.org']);
    expect(await found(`q=${encodeURIComponent("o'b")}`)).toEqual(["o'brien@example.org"]);
    expect(await found('q=ALICE%40EXAMPLE.ORG&match=exact')).toEqual(['alice@example.org']);
    expect(await found('q=alice&match=exact')).toEqual([]);
    for (const hostile of ["' or 1=1 --", '%', '_', '\\', '"; drop table subscribers; --', '%_%']) {
      const hits = await found(`q=${encodeURIComponent(hostile)}`);
      for (const hit of hits) expect(hit.startsWith(hostile)).toBe(true);
    }
    expect((await t.service.db.selectFrom('subscribers').select('id').execute()).length).toBe(ADDRESSES.length);
  });

  it('answers a malformed search with 400', async () => {
    expect((await admin.get('/admin/people?q=a&match=regex')).status).toBe(400);
    expect((await admin.get(`/admin/people?q=${'a'.repeat(400)}`)).status).toBe(400);
    expect((await admin.get('/admin/people?q=%00')).status).toBe(400);
  });

  it('shows the counts by status and a person with status, consent record and deliveries', async () => {
    const list = await (await admin.get('/admin/people')).text();
    expect(list).toMatch(/<th class="n">active<\/th>/);
    const page = await (await admin.get(`/admin/people/${ids['alice@example.org']}`)).text();
    expect(page).toContain('<h1>alice@example.org</h1>');
    expect(page).toContain('198.51.100.7');
    expect(page).toContain('confirmation link');
    expect(page).toContain('No digests yet.');
    expect((await admin.get('/admin/people/999999')).status).toBe(404);
    expect((await admin.get('/admin/people/x')).status).toBe(400);
  });

  it('unsubscribes a person, recorded as the operator, once', async () => {
    const id = ids['bob@example.net']!;
    const res = await admin.post(`/admin/people/${id}/unsubscribe`);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe(`/admin/people/${id}?done=unsubscribed`);
    expect((await subscriber('bob@example.net'))!.status).toBe('unsubscribed');
    const events = await t.service.db.selectFrom('consent_events').selectAll().where('subscriber_id', '=', id).execute();
    expect(events.map((e) => [e.kind, e.source])).toEqual([['unsubscribed', 'operator (admin console)']]);
    expect((await admin.post(`/admin/people/${id}/unsubscribe`)).status).toBe(400);
    expect(await (await admin.get(`/admin/people/${id}?done=unsubscribed`)).text()).toContain('The subscriber is unsubscribed.');
  });

  it('suppresses an address: unsubscribed and on the suppression list with the reason shown', async () => {
    const id = ids['alpha@example.org']!;
    expect((await admin.post(`/admin/people/${id}/suppress`)).status).toBe(303);
    expect((await subscriber('alpha@example.org'))!.status).toBe('unsubscribed');
    const row = await t.service.db.selectFrom('suppressions').selectAll().where('address_hash', '=', suppressionHash('alpha@example.org')).executeTakeFirst();
    expect(row?.reason).toBe('operator');
    expect(await (await admin.get(`/admin/people/${id}`)).text()).toContain('suppressed by an operator');
    expect((await admin.post(`/admin/people/${id}/suppress`)).status).toBe(400);
  });

  it('revokes every link of a person: the old unsubscribe link stops working', async () => {
    const id = ids['alxy@example.org']!;
    const before = (await subscriber('alxy@example.org'))!;
    const oldLink = `/u/${createSubscriberToken(t.config.secret, 'unsubscribe', id, before.token_version)}`;
    expect((await fetch(`${t.baseUrl}${oldLink}`)).status).toBe(200);
    expect((await admin.post(`/admin/people/${id}/revoke-links`)).status).toBe(303);
    expect((await subscriber('alxy@example.org'))!.token_version).toBe(before.token_version + 1);
    expect((await fetch(`${t.baseUrl}${oldLink}`)).status).toBe(404);
    expect((await admin.post('/admin/people/999999/revoke-links')).status).toBe(404);
  });

  it('erases only after the confirmation step, and an import cannot bring the address back', async () => {
    const id = ids['erase-me@example.net']!;
    expect((await admin.post(`/admin/people/${id}/erase`)).status).toBe(400);
    expect((await admin.post(`/admin/people/${id}/erase`, { _csrf: '', confirm: 'erase' })).status).toBe(403);
    expect(await subscriber('erase-me@example.net')).toBeDefined();
    const confirmPage = await admin.get(`/admin/people/${id}/erase`);
    expect(confirmPage.status).toBe(200);
    expect(await confirmPage.text()).toContain('name="confirm" value="erase"');
    const res = await admin.post(`/admin/people/${id}/erase`, { confirm: 'erase' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/admin/people?done=erased');
    expect(await subscriber('erase-me@example.net')).toBeUndefined();
    expect((await admin.get(`/admin/people/${id}`)).status).toBe(404);
    const imported = await fetch(`${t.baseUrl}/admin/subscribers/import`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'text/csv' },
      body: 'email\nerase-me@example.net\n',
    });
    expect(((await imported.json()) as { suppressed: number }).suppressed).toBe(1);
  });
});
