import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestionOverview, nextDigestDay } from '../../src/admin/papers.ts';
import { importPapersFile, sampleDataFile } from '../../src/papers/import-file.ts';
import { signIn, type ConsoleClient } from '../helpers/admin-console.ts';
import { startFakeServer, type FakeServer } from '../helpers/papers-fake-server.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { waitFor } from '../helpers/wait-for.ts';

const ADMIN_TOKEN = 'console-papers-token-0123456789';
const sample = JSON.parse(readFileSync(sampleDataFile, 'utf8')) as { publishedAt: string }[];

describe('admin console: papers, ingestion and queues', () => {
  let hf: FakeServer;
  let arxiv: FakeServer;
  let t: TestService;
  let admin: ConsoleClient;
  beforeAll(async () => {
    // Daily Papers: the sample's items for 2025-12-26; a refusal for 2025-12-20.
    hf = await startFakeServer((_req, res, request) => {
      const day = request.query.get('date') ?? '';
      if (day === '2025-12-20') {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end('{"error":"bad date"}');
        return;
      }
      const items = Number(request.query.get('p') ?? 0) === 0 ? sample.filter((item) => item.publishedAt.startsWith(day)) : [];
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(items));
    });
    arxiv = await startFakeServer((_req, res) => {
      res.writeHead(503);
      res.end();
    });
    t = await startTestService({ ADMIN_TOKEN, HF_API_URL: hf.url, ARXIV_API_URL: arxiv.url });
    admin = await signIn(t.baseUrl, ADMIN_TOKEN);
  });
  afterAll(async () => {
    await t?.stop();
    await hf?.close();
    await arxiv?.close();
  });

  const overview = (day: string) => ingestionOverview(t.service.db, t.service.queues).then((days) => days.find((d) => d.day === day));
  const ingestJobs = async () => (await t.service.queues.byName.papers.getJobs(['waiting', 'active', 'completed', 'failed', 'delayed'])).filter((j) => j?.name === 'ingest-day').length;

  it('re-polls a day through the ingest job and shows the poll with its counts, and a failed poll with its error', { timeout: 60_000 }, async () => {
    const res = await admin.post('/admin/papers/repoll', { day: '2025-12-26' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/admin/papers?done=repoll');
    const polled = await waitFor(async () => {
      const d = await overview('2025-12-26');
      return d?.lastPoll?.state === 'completed' ? d : undefined;
    }, { what: 'the poll of 2025-12-26', timeoutMs: 30_000 });
    expect(polled.lastPoll!.inserted).toBeGreaterThan(0);
    expect(polled.papers).toBe(polled.lastPoll!.inserted);

    expect((await admin.post('/admin/papers/repoll', { day: '2025-12-20' })).status).toBe(303);
    const failed = await waitFor(async () => {
      const d = await overview('2025-12-20');
      return d?.lastPoll?.state === 'failed' ? d : undefined;
    }, { what: 'the failed poll of 2025-12-20', timeoutMs: 30_000 });
    expect(failed.lastPoll!.error).toBeTruthy();

    const page = await (await admin.get('/admin/papers?done=repoll')).text();
    expect(page).toContain('The poll is queued');
    expect(page).toMatch(/<td>2025-12-26<\/td><td class="n">\d+<\/td>\s*<td>completed<\/td>/);
    expect(page).toMatch(/<td>2025-12-20<\/td><td class="n">0<\/td>\s*<td>failed<\/td>/);
  });

  it('refuses a re-poll of a malformed or future day, or without the form token, and queues nothing', async () => {
    const before = await ingestJobs();
    expect((await admin.post('/admin/papers/repoll', { day: 'yesterday' })).status).toBe(400);
    expect((await admin.post('/admin/papers/repoll', { day: '2999-01-01' })).status).toBe(400);
    expect((await admin.post('/admin/papers/repoll', { day: '2025-13-45' })).status).toBe(400);
    expect((await admin.post('/admin/papers/repoll', { _csrf: '', day: '2025-12-25' })).status).toBe(403);
    expect(await ingestJobs()).toBe(before);
  });

  it('shows the papers the next digest would carry', async () => {
    await importPapersFile(t.service.db, sampleDataFile);
    const day = await nextDigestDay(t.service.db, t.config.digestTimeZone);
    const moved = await t.service.db.updateTable('papers').set({ featured_on: day }).where('featured_on', '=', '2025-12-25').returning(['title']).execute();
    expect(moved.length).toBeGreaterThan(0);
    const page = await (await admin.get('/admin/papers')).text();
    expect(page).toContain(`The next digest (${day})`);
    const shown = moved.filter((p) => page.includes(p.title.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;').replace(/'/g, '&#x27;')));
    expect(shown.length).toBeGreaterThan(0);
  });

  it('mounts Bull Board behind the session: its page, its API, and cross-site calls refused', async () => {
    expect((await fetch(`${t.baseUrl}/admin/queues`)).status).toBe(401);
    expect((await fetch(`${t.baseUrl}/admin/queues/api/queues`)).status).toBe(401);
    const page = await admin.get('/admin/queues');
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('Paperboy queues');
    const csp = page.headers.get('content-security-policy')!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toMatch(/script-src[^;]*unsafe/);
    const api = await admin.get('/admin/queues/api/queues');
    expect(api.status).toBe(200);
    const names = ((await api.json()) as { queues: { name: string }[] }).queues.map((q) => q.name).sort();
    expect(names).toEqual(['arxiv', 'digest', 'mail', 'papers', 'send']);

    const crossSite = await fetch(`${t.baseUrl}/admin/queues/api/queues/mail/pause`, { method: 'PUT', headers: { cookie: admin.cookie, origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' } });
    expect(crossSite.status).toBe(403);
    expect(await t.service.queues.byName.mail.isPaused()).toBe(false);
    const anonymous = await fetch(`${t.baseUrl}/admin/queues/api/queues/mail/pause`, { method: 'PUT' });
    expect(anonymous.status).toBe(401);
    expect(await t.service.queues.byName.mail.isPaused()).toBe(false);
  });
});
