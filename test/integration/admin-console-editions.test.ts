import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findSendRunById } from '../../src/delivery/send-run.repository.ts';
import { importPapersFile, sampleDataFile } from '../../src/papers/import-file.ts';
import { signIn, type ConsoleClient } from '../helpers/admin-console.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { waitFor } from '../helpers/wait-for.ts';

const ADMIN_TOKEN = 'console-editions-token-0123456789';
const READERS = 60;

describe('admin console: editions', () => {
  let t: TestService;
  let admin: ConsoleClient;
  let editionId: number;
  let runId: number;
  beforeAll(async () => {
    // Slow enough that the send is still going while the test pauses it.
    t = await startTestService({ ADMIN_TOKEN, SEND_RATE: '10' });
    await importPapersFile(t.service.db, sampleDataFile);
    await t.service.db
      .insertInto('subscribers')
      .values(Array.from({ length: READERS }, (_, i) => ({ email: `reader${i}@example.org`, status: 'active' as const, confirmed_at: new Date() })))
      .execute();
    admin = await signIn(t.baseUrl, ADMIN_TOKEN);
    // One hard bounce among the readers, for the bounce figures.
    t.sink.onRcpt = (address) => (address === 'reader0@example.org' ? { code: 550, message: '5.1.1 No such user' } : undefined);
    const { edition, run } = await t.service.services.requestDailyDigest('2025-12-26');
    editionId = edition.id;
    runId = run!.id;
  });
  afterAll(async () => t?.stop());

  const progress = async () => (await (await admin.get(`/admin/edition/${editionId}/progress`)).json()) as { status: string; counts: { queued: number; sending: number; sent: number; bounced: number }; bouncePercent: number | null; complaintPercent: number | null; done: number; planned: number; pauseReason: string | null };
  const runStatus = async () => (await findSendRunById(t.service.db, runId))!.status;

  it('lists the edition with its ledger figures and shows its progress growing while it sends', { timeout: 60_000 }, async () => {
    const first = await waitFor(async () => {
      const p = await progress();
      return p.status === 'sending' && p.counts.sent > 0 ? p : undefined;
    }, { what: 'first messages sent', timeoutMs: 30_000 });
    const later = await waitFor(async () => {
      const p = await progress();
      return p.counts.sent > first.counts.sent ? p : undefined;
    }, { what: 'more messages sent', timeoutMs: 30_000 });
    expect(later.planned).toBe(READERS);
    expect(later.done).toBeGreaterThan(first.done);

    const list = await admin.get('/admin');
    expect(list.status).toBe(200);
    const html = await list.text();
    expect(html).toContain(`href="/admin/edition/${editionId}"`);
    expect(html).toContain('2025-12-26');
    const page = await (await admin.get(`/admin/edition/${editionId}`)).text();
    expect(page).toContain('Pause sending');
    expect(page).not.toContain('Resume sending');
    expect(page).toContain('src="/assets/admin-progress.js"');
    expect(page).not.toMatch(/<script>/);
  });

  it('refuses a pause without the form token and pauses with it, showing the reason', { timeout: 60_000 }, async () => {
    expect((await admin.post(`/admin/edition/${editionId}/pause`, { _csrf: 'x', reason: 'no' })).status).toBe(403);
    expect(await runStatus()).toBe('sending');
    const res = await admin.post(`/admin/edition/${editionId}/pause`, { reason: 'checking a complaint' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe(`/admin/edition/${editionId}?done=paused`);
    const run = (await findSendRunById(t.service.db, runId))!;
    expect(run.status).toBe('paused');
    expect(run.pause_reason).toBe('operator: checking a complaint');
    const page = await (await admin.get(`/admin/edition/${editionId}?done=paused`)).text();
    expect(page).toContain('The edition is paused.');
    expect(page).toContain('operator: checking a complaint');
    expect(page).toContain('Resume sending');
    expect(page).not.toContain('Pause sending');
    // Nothing more goes out while it is paused: the ledger settles and stays put.
    const settled = await waitFor(async () => {
      const p = await progress();
      return p.counts.sending === 0 ? p : undefined;
    }, { what: 'claims given back' });
    expect(settled.counts.queued).toBeGreaterThan(0);
    expect((await admin.post(`/admin/edition/${editionId}/pause`)).status).toBe(400);
  });

  it('resumes the edition to the end, each reader getting exactly one digest', { timeout: 90_000 }, async () => {
    const res = await admin.post(`/admin/edition/${editionId}/resume`);
    expect(res.status).toBe(303);
    await waitFor(async () => (await runStatus()) === 'sent', { what: 'edition sent', timeoutMs: 60_000 });
    expect(t.sink.acceptedTo.get('reader0@example.org') ?? 0).toBe(0);
    for (let i = 1; i < READERS; i++) expect(t.sink.acceptedTo.get(`reader${i}@example.org`), `reader${i}`).toBe(1);
    expect((await admin.post(`/admin/edition/${editionId}/resume`)).status).toBe(400);
    const p = await progress();
    expect(p.counts.sent).toBe(READERS - 1);
    expect(p.counts.bounced).toBe(1);
    expect(p.bouncePercent).toBe(Math.round((1 / READERS) * 10_000) / 100);
    expect(p.complaintPercent).toBe(0);
    expect(p.pauseReason).toBeNull();
    const row = /<td><a href="\/admin\/edition\/\d+">2025-12-26<\/a><\/td>[\s\S]*?<\/tr>/.exec(await (await admin.get('/admin')).text())![0];
    expect(row).toContain(`<td class="n">${READERS - 1}</td>`);
    expect(row).toContain(`<td class="n">${p.bouncePercent}</td><td class="n">0</td>`);
  });

  it('serves the digest for a sandboxed frame with inert personal links, and its text part on the page', async () => {
    const digest = await admin.get(`/admin/edition/${editionId}/digest`);
    expect(digest.status).toBe(200);
    expect(digest.headers.get('content-security-policy')).toMatch(/(^|; )sandbox(;|$)/);
    const html = await digest.text();
    expect(html).toContain('<html');
    expect(html).not.toMatch(/%%[A-Z_]+%%/);
    const page = await (await admin.get(`/admin/edition/${editionId}`)).text();
    expect(page).toMatch(/<iframe[^>]* sandbox src="\/admin\/edition\/\d+\/digest"/);
    expect(page).toContain('<pre class="mail-text">');
    expect(page).not.toMatch(/%%[A-Z_]+%%/);
  });

  it('answers an unknown or malformed edition with 404 or 400, and anything without a session with 401', async () => {
    expect((await admin.get('/admin/edition/999999')).status).toBe(404);
    expect((await admin.get('/admin/edition/abc')).status).toBe(400);
    expect((await admin.get("/admin/edition/1'%20or%201=1")).status).toBe(400);
    expect((await fetch(`${t.baseUrl}/admin/edition/${editionId}/progress`)).status).toBe(401);
    expect((await fetch(`${t.baseUrl}/admin/edition/${editionId}/digest`)).status).toBe(401);
    const anonymousPause = await fetch(`${t.baseUrl}/admin/edition/${editionId}/pause`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '' });
    expect(anonymousPause.status).toBe(401);
  });
});
