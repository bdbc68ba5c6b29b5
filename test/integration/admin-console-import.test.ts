import http from 'node:http';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signIn, type ConsoleClient } from '../helpers/admin-console.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { waitFor } from '../helpers/wait-for.ts';

const ADMIN_TOKEN = 'console-import-token-0123456789';

describe('admin console: CSV import and export', () => {
  let t: TestService;
  let admin: ConsoleClient;
  beforeAll(async () => {
    t = await startTestService({ ADMIN_TOKEN });
    admin = await signIn(t.baseUrl, ADMIN_TOKEN);
  });
  afterAll(async () => t?.stop());

  const upload = (csv: string, fields: Record<string, string>, headers: Record<string, string> = {}) => {
    const form = new FormData();
    for (const [name, value] of Object.entries({ _csrf: admin.csrf, ...fields })) form.append(name, value);
    form.append('file', new Blob([csv], { type: 'text/csv' }), 'list.csv');
    return fetch(`${t.baseUrl}/admin/import`, { method: 'POST', redirect: 'manual', headers: { cookie: admin.cookie, ...headers }, body: form });
  };
  const reportOf = (html: string) => Object.fromEntries([...html.matchAll(/data-report="(\w+)">(\d+)</g)].map((m) => [m[1]!, Number(m[2])]));
  const count = async () => Number((await t.service.db.selectFrom('subscribers').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);

  it('imports with a confirmation to each by default, reports bad lines, and a second import changes nothing', { timeout: 60_000 }, async () => {
    const csv = 'email\nann@example.org\nnot-an-address\nben@example.org\nAnn@example.org\n';
    const res = await upload(csv, {});
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(reportOf(html)).toMatchObject({ rows: 4, added: 2, confirmationsQueued: 2 });
    expect(html).toMatch(/<td class="n">3<\/td><td>[^<]+<\/td>/);
    for (const address of ['ann@example.org', 'ben@example.org']) {
      await waitFor(() => t.sink.to(address).length === 1, { what: `confirmation to ${address}` });
    }
    const statuses = await t.service.db.selectFrom('subscribers').select(['email', 'status']).orderBy('email').execute();
    expect(statuses).toEqual([{ email: 'ann@example.org', status: 'pending' }, { email: 'ben@example.org', status: 'pending' }]);
    const again = reportOf(await (await upload(csv, { consent: 'confirm' })).text());
    expect(again).toMatchObject({ added: 0, confirmationsQueued: 0 });
    expect(again.existing).toBeGreaterThanOrEqual(2);
    expect(await count()).toBe(2);
  });

  it('needs a note for already-consented rows, records it per row, and neutralises formulas on export', async () => {
    const refused = await upload('email\ncarl@example.org\n', { consent: 'already-consented', note: '  ' });
    expect(refused.status).toBe(400);
    expect(await refused.text()).toContain('needs a note');
    expect(await count()).toBe(2);

    const note = '=HYPERLINK("https://evil.example","signed up at the 2025 meetup")';
    const res = await upload('email\ncarl@example.org\n', { consent: 'already-consented', note });
    expect(reportOf(await res.text())).toMatchObject({ added: 1, confirmationsQueued: 0 });
    const carl = await t.service.db.selectFrom('subscribers').selectAll().where('email', '=', 'carl@example.org').executeTakeFirstOrThrow();
    expect(carl.status).toBe('active');
    const event = await t.service.db.selectFrom('consent_events').selectAll().where('subscriber_id', '=', carl.id).executeTakeFirstOrThrow();
    expect(event.source).toContain(note);
    expect(event.source).toContain('list.csv, line 2');

    const exported = await admin.get('/admin/export.csv');
    expect(exported.status).toBe(200);
    expect(exported.headers.get('content-type')).toContain('text/csv');
    const rows = parse(await exported.text(), { columns: true }) as Record<string, string>[];
    const row = rows.find((r) => r.email === 'carl@example.org')!;
    expect(row.consent_note).toBe(`'${note}`);
    expect(Object.keys(row)).not.toContain('token_version');
  });

  it('refuses an unknown consent choice, a missing file, a missing form token and a cross-site post, writing nothing', async () => {
    expect((await upload('email\ndora@example.org\n', { consent: 'whatever' })).status).toBe(400);
    const noFile = new FormData();
    noFile.append('_csrf', admin.csrf);
    expect((await fetch(`${t.baseUrl}/admin/import`, { method: 'POST', headers: { cookie: admin.cookie }, body: noFile })).status).toBe(400);
    expect((await upload('email\ndora@example.org\n', { _csrf: 'forged' })).status).toBe(403);
    expect((await upload('email\ndora@example.org\n', {}, { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    expect((await admin.post('/admin/import', { file: 'email\ndora@example.org' })).status).toBe(415);
    expect(await t.service.db.selectFrom('subscribers').select('id').where('email', '=', 'dora@example.org').executeTakeFirst()).toBeUndefined();
  });

  it('answers an upload announced as 1 GB with 413 before reading it', async () => {
    const url = new URL(`${t.baseUrl}/admin/import`);
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(
        { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { cookie: admin.cookie, 'content-type': 'multipart/form-data; boundary=x', 'content-length': String(1024 ** 3) } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
          req.destroy();
        },
      );
      req.on('error', reject);
      req.write('--x\r\n');
    });
    expect(status).toBe(413);
    expect(await count()).toBe(3);
  });
});
