import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXPORT_COLUMNS } from '../../src/subscribers/subscriber-csv.ts';
import { suppressionHash } from '../../src/subscribers/suppression.repository.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { waitFor } from '../helpers/wait-for.ts';

const ADMIN_TOKEN = 'admin-token-for-csv-tests-0123456789';
const run = promisify(execFile);
const cli = path.join(import.meta.dirname, '../../bin/paperboy.js');

describe('subscriber CSV import and export', () => {
  let t: TestService;
  let dir: string;
  beforeAll(async () => {
    t = await startTestService({ ADMIN_TOKEN, SEND_RATE: '1000' });
    dir = await mkdtemp(path.join(os.tmpdir(), 'paperboy-csv-'));
  });
  afterAll(async () => {
    await t?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
  const importCsv = (csv: string, query = '') =>
    fetch(`${t.baseUrl}/admin/subscribers/import${query}`, { method: 'POST', headers: { ...auth, 'content-type': 'text/csv' }, body: csv });
  const subscriber = (email: string) => t.service.db.selectFrom('subscribers').selectAll().where('email', '=', email).executeTakeFirst();
  const consentEvents = (id: number) => t.service.db.selectFrom('consent_events').selectAll().where('subscriber_id', '=', id).orderBy('id').execute();
  const count = async () => Number((await t.service.db.selectFrom('subscribers').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()).n);
  const mailIdle = () =>
    waitFor(async () => (await t.service.queues.countPendingJobs('mail')) === 0, { what: 'mail queue idle', timeoutMs: 20_000 });

  it('imports with double opt-in by default: pending people, a confirmation each, malformed rows reported by line and skipped', async () => {
    await t.service.db.insertInto('suppressions').values({ address_hash: suppressionHash('erased@example.org'), reason: 'erased' }).execute();
    const csv = [
      'Email,Topics,Time Zone,Name',
      'ada@example.org,"diffusion; robotics",Europe/Berlin,Ada',
      'not an address,,,',
      'grace@EXAMPLE.org,,,Grace',
      'alan@example.org,,Mars/Olympus,Alan',
      'ada@example.org,,,Ada again',
      'erased@example.org,,,Gone',
      '"broken@example.org,unclosed',
    ].join('\r\n');
    const res = await importCsv(csv);
    expect(res.status).toBe(200);
    const report = (await res.json()) as { rows: number; added: number; existing: number; suppressed: number; duplicates: number; invalid: { line: number; reason: string }[]; confirmationsQueued: number };
    expect(report).toMatchObject({ rows: 7, added: 2, existing: 0, suppressed: 1, duplicates: 1, confirmationsQueued: 2 });
    expect(report.invalid.map((i) => i.line)).toEqual([3, 5, 8]);
    expect(report.invalid[0]!.reason).toContain('email');
    expect(report.invalid[1]!.reason).toContain('Mars/Olympus');

    const ada = await subscriber('ada@example.org');
    expect(ada).toMatchObject({ status: 'pending', topics: ['diffusion', 'robotics'], time_zone: 'Europe/Berlin', confirmed_at: null });
    expect(await consentEvents(ada!.id)).toMatchObject([{ kind: 'imported', ip: null, source: expect.stringContaining('line 2') }]);
    expect(await subscriber('grace@example.org')).toMatchObject({ status: 'pending', time_zone: 'UTC' });
    expect(await subscriber('erased@example.org')).toBeUndefined();

    await waitFor(() => t.sink.to('ada@example.org').length === 1 && t.sink.to('grace@example.org').length === 1, { what: 'two confirmations', timeoutMs: 20_000 });
    expect(t.sink.to('ada@example.org')[0]!.parsed.subject).toBe('Confirm your Paperboy subscription');

    // The same file again changes nothing and mails nobody.
    const before = await count();
    const again = (await (await importCsv(csv)).json()) as typeof report;
    expect(again).toMatchObject({ rows: 7, added: 0, existing: 2, suppressed: 1, confirmationsQueued: 0 });
    await mailIdle();
    expect(await count()).toBe(before);
    expect(await subscriber('ada@example.org')).toEqual(ada);
    expect(t.sink.to('ada@example.org')).toHaveLength(1);
  });

  it('imports already-consented people as active only with a consent note, recorded on every row', async () => {
    const csv = 'email\r\nkatherine@example.org\r\ndorothy@example.org\r\n';
    const missing = await importCsv(csv, '?consent=already-consented');
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { message: string }).message).toContain('note');
    expect(await subscriber('katherine@example.org')).toBeUndefined();
    expect((await importCsv(csv, '?consent=maybe')).status).toBe(400);

    const note = 'Signed up on the paper form at NeurIPS 2025, booth 12';
    const res = await importCsv(csv, `?consent=already-consented&note=${encodeURIComponent(note)}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ added: 2, confirmationsQueued: 0 });
    for (const email of ['katherine@example.org', 'dorothy@example.org']) {
      const row = await subscriber(email);
      expect(row).toMatchObject({ status: 'active' });
      expect(row!.confirmed_at).not.toBeNull();
      expect(await consentEvents(row!.id)).toMatchObject([{ kind: 'imported', source: expect.stringContaining(note) }]);
    }
    await mailIdle();
    expect(t.sink.to('katherine@example.org')).toHaveLength(0);
  });

  it('checks imported topics as the preference centre does: a row with topics a form would refuse is reported and not stored', async () => {
    const rows = [
      ['topics-ok@example.org', '"robot learning"; Diffusion  -survey'],
      ['topics-html@example.org', '<script>alert(1)</script>'],
      ['topics-sql@example.org', "x'); drop table subscribers; --"],
      ['topics-stopwords@example.org', 'the of'],
      ['topics-operators@example.org', '-survey'],
      ['topics-quote@example.org', '"robot learning'],
      ['topics-long@example.org', 'a'.repeat(120)],
      ['topics-many@example.org', Array.from({ length: 11 }, (_, i) => `topic${i}`).join(', ')],
    ];
    const csv = ['email,topics', ...rows.map(([email, topics]) => `${email},"${topics!.replaceAll('"', '""')}"`)].join('\r\n');
    const res = await importCsv(csv, `?consent=already-consented&note=${encodeURIComponent('topics test')}`);
    expect(res.status).toBe(200);
    const report = (await res.json()) as { added: number; invalid: { line: number; reason: string }[] };
    expect(report.added).toBe(1);
    expect(report.invalid.map((i) => i.line)).toEqual([3, 4, 5, 6, 7, 8, 9]);
    for (const { reason } of report.invalid) expect(reason).toMatch(/^Topics: /);
    expect(report.invalid[2]!.reason).not.toContain(';');
    expect(await subscriber('topics-ok@example.org')).toMatchObject({ topics: ['"robot learning"', 'diffusion -survey'] });
    for (const [email] of rows.slice(1)) expect(await subscriber(email!)).toBeUndefined();
  });

  it('refuses a header without an email column, a non-CSV body, a missing token and a 1 GB upload', async () => {
    const noEmail = await importCsv('name,topics\r\nAda,x\r\n');
    expect(noEmail.status).toBe(400);
    expect(((await noEmail.json()) as { message: string }).message).toContain('"email" column');
    const json = await fetch(`${t.baseUrl}/admin/subscribers/import`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{"email":"x@example.org"}' });
    expect(json.status).toBe(415);
    expect((await fetch(`${t.baseUrl}/admin/subscribers/import`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: 'email\r\nx@example.org' })).status).toBe(401);
    expect((await fetch(`${t.baseUrl}/admin/subscribers/export`)).status).toBe(401);

    // Announced as 1 GB: refused from the header, before the body is read.
    const status = await new Promise<number>((resolve, reject) => {
      const url = new URL(`${t.baseUrl}/admin/subscribers/import`);
      const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { ...auth, 'content-type': 'text/csv', 'content-length': String(1024 ** 3) } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.write('email\r\n');
    });
    expect(status).toBe(413);
    expect(await subscriber('x@example.org')).toBeUndefined();
  });

  it('exports everyone with status and consent fields, neutralises formulas, and its re-import changes nothing', async () => {
    await t.service.db
      .insertInto('subscribers')
      .values({
        email: '=cmd|calc!A0@example.org',
        status: 'unsubscribed',
        // Topics a form accepts whose cell would start with a formula character.
        topics: ['+sum a1', 'diffusion -survey'],
      })
      .returning('id')
      .executeTakeFirstOrThrow()
      .then(({ id }) =>
        t.service.db
          .insertInto('consent_events')
          .values({ subscriber_id: id, kind: 'subscribed', occurred_at: new Date('2025-01-01T00:00:00.000Z'), ip: '203.0.113.9', user_agent: '=HYPERLINK("http://evil")', source: 'web' })
          .execute(),
      );
    const res = await fetch(`${t.baseUrl}/admin/subscribers/export`, { headers: auth });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/csv');
    const text = await res.text();
    const rows = parse(text, { columns: true }) as Record<string, string>[];
    expect(Object.keys(rows[0]!)).toEqual([...EXPORT_COLUMNS]);
    expect(rows).toHaveLength(await count());
    const evil = rows.find((r) => r.email!.includes('cmd'))!;
    expect(evil.email).toBe("'=cmd|calc!A0@example.org");
    expect(evil.consent_user_agent).toBe('\'=HYPERLINK("http://evil")');
    expect(evil.topics).toBe("'+sum a1, diffusion -survey");
    expect(evil.consent_ip).toBe('203.0.113.9');
    for (const row of rows) for (const cell of Object.values(row)) expect(cell).not.toMatch(/^[=+\-@\t\r]/);
    const katherine = rows.find((r) => r.email === 'katherine@example.org')!;
    expect(katherine).toMatchObject({ status: 'active', consent_form: 'import', consent_note: 'Signed up on the paper form at NeurIPS 2025, booth 12' });
    expect(text).not.toMatch(/token_version|address_hash/);

    const before = await count();
    const reimport = (await (await importCsv(text)).json()) as { added: number; existing: number; invalid: unknown[] };
    expect(reimport.added).toBe(0);
    expect(reimport.invalid).toEqual([]);
    expect(reimport.existing).toBe(before);
    expect(await count()).toBe(before);
  });

  it('works from the command line, and refuses --already-consented without a note with exit code 2', async () => {
    const env = { ...process.env, NODE_ENV: 'test', DATABASE_URL: t.testDb.url, REDIS_URL: t.config.redisUrl, QUEUE_PREFIX: t.config.queuePrefix, LOG_LEVEL: 'silent' };
    const file = path.join(dir, 'people.csv');
    await writeFile(file, 'email\nmary@example.org\nnot-an-address\n');
    const refused = await run(process.execPath, [cli, 'subscribers', 'import', file, '--already-consented'], { env }).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code: number; stderr: string }) => error,
    );
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--consent-note');

    const { stdout, stderr } = await run(process.execPath, [cli, 'subscribers', 'import', file, '--already-consented', '--consent-note', 'paper list, 2024'], { env });
    expect(stderr).toContain('line 3 skipped');
    expect(stdout).toMatch(/2 rows in [\d.]+ s: 1 added/);
    expect(await subscriber('mary@example.org')).toMatchObject({ status: 'active' });

    const out = path.join(dir, 'export.csv');
    await run(process.execPath, [cli, 'subscribers', 'export', '--out', out], { env });
    const exported = parse(await readFile(out, 'utf8'), { columns: true }) as Record<string, string>[];
    expect(exported.map((r) => r.email)).toContain('mary@example.org');
    expect(exported).toHaveLength(await count());
  }, 180_000);
});
