import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findSendRunById } from '../../src/delivery/send-run.repository.ts';
import { importPapersFile, sampleDataFile } from '../../src/papers/import-file.ts';
import { startFakeServer, type FakeServer } from '../helpers/papers-fake-server.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { waitFor } from '../helpers/wait-for.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ADMIN_TOKEN = 'console-browser-token-0123456789';
const READERS = 50;

// The console as an operator uses it, in one Chromium: sign in, watch an edition send and pause
// and resume it, erase a subscriber, import a CSV. Every page must satisfy the CSP.
describe('admin console in a real browser', () => {
  let t: TestService;
  let browser: Browser;
  let page: Page;
  let attacker: FakeServer;
  const cspErrors: string[] = [];
  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install chromium (see .ci/run)`);
    // Slow enough to watch: 50 readers at 5 messages per second.
    t = await startTestService({ ADMIN_TOKEN, SEND_RATE: '5' });
    await importPapersFile(t.service.db, sampleDataFile);
    await t.service.db
      .insertInto('subscribers')
      .values([...Array.from({ length: READERS }, (_, i) => `reader${i}@example.org`), 'erase-target@example.net'].map((email) => ({ email, status: 'active' as const, confirmed_at: new Date() })))
      .execute();
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--disable-gpu', '--disable-quic', '--disable-sync'] });
    // Another site whose page posts a console form at once, as a CSRF page would.
    attacker = await startFakeServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(`<!doctype html><form id="f" method="post" action="${t.baseUrl}/admin/people/1/erase"><input name="confirm" value="erase"></form><script>document.getElementById('f').submit()</script>`);
    });
    page = await (await browser.newContext()).newPage();
    page.on('console', (m) => m.text().includes('Content Security Policy') && cspErrors.push(m.text()));
  });
  afterAll(async () => {
    await browser?.close();
    await attacker?.close();
    await t?.stop();
  });

  it('signs in with the token and lands on the page asked for', async () => {
    const first = await page.goto(`${t.baseUrl}/admin/people`);
    expect(first!.status()).toBe(401);
    await page.getByLabel('Admin token').fill('not the token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.locator('[role=alert]').textContent()).toBe('That is not the admin token.');
    await page.getByLabel('Admin token').fill(ADMIN_TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${t.baseUrl}/admin/people`);
    expect(await page.locator('h1').textContent()).toBe('Subscribers');
    const cookie = (await page.context().cookies()).find((c) => c.name === '__Secure-paperboy-admin')!;
    expect(cookie).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Strict', path: '/admin' });
  });

  it('shows an edition progressing while it sends, pauses it and resumes it to the end', { timeout: 90_000 }, async () => {
    const { edition, run } = await t.service.services.requestDailyDigest('2025-12-26');
    await page.getByRole('link', { name: 'Editions' }).click();
    await page.getByRole('link', { name: '2025-12-26' }).click();
    await page.waitForURL(`${t.baseUrl}/admin/edition/${edition.id}`);
    const sent = page.locator('[data-field="counts.sent"]');
    const shown = Number(await sent.textContent());
    // The page updates itself (no navigation): the figure grows while we watch.
    let navigations = 0;
    const counted = (frame: unknown) => frame === page.mainFrame() && navigations++;
    page.on('framenavigated', counted);
    await expect.poll(async () => Number(await sent.textContent()), { timeout: 30_000 }).toBeGreaterThan(shown);
    page.off('framenavigated', counted);
    expect(navigations).toBe(0);

    await page.getByLabel('Reason (optional)').fill('spot check');
    await page.getByRole('button', { name: 'Pause sending' }).click();
    await page.getByRole('button', { name: 'Resume sending' }).waitFor();
    expect(await page.locator('[data-field="pauseReason"]').textContent()).toBe('operator: spot check');
    expect((await findSendRunById(t.service.db, run!.id))!.status).toBe('paused');
    expect(t.sink.messages.length).toBeLessThan(READERS + 1);

    await page.getByRole('button', { name: 'Resume sending' }).click();
    await page.getByRole('button', { name: 'Pause sending' }).or(page.locator('[data-status="sent"]')).first().waitFor();
    // Live updates carry the page to the end: status `sent`, every reader counted.
    await page.locator('[data-field="status"]', { hasText: /^sent$/ }).waitFor({ timeout: 60_000 });
    await expect.poll(() => sent.textContent(), { timeout: 10_000 }).toBe(String(READERS + 1));
    for (let i = 0; i < READERS; i++) expect(t.sink.acceptedTo.get(`reader${i}@example.org`)).toBe(1);
    expect(await page.frameLocator('iframe.digest').locator('body').textContent()).toContain('Trending');
  });

  it('finds a subscriber by address and erases them after the confirmation step', async () => {
    await page.getByRole('link', { name: 'Subscribers' }).click();
    await page.getByLabel('Address').fill('erase-tar');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('link', { name: 'erase-target@example.net' }).click();
    expect(await page.locator('h1').textContent()).toBe('erase-target@example.net');
    await page.getByRole('link', { name: 'Erase…' }).click();
    await page.getByRole('button', { name: 'Erase for good' }).click();
    await page.waitForURL(`${t.baseUrl}/admin/people?done=erased`);
    expect(await page.locator('[role=status]').textContent()).toContain('erased');
    expect(await t.service.db.selectFrom('subscribers').select('id').where('email', '=', 'erase-target@example.net').executeTakeFirst()).toBeUndefined();
  });

  it('imports a CSV with a confirmation to each, and the confirmations arrive', async () => {
    await page.getByRole('link', { name: 'Import' }).click();
    await page.getByLabel('CSV file').setInputFiles({ name: 'newcomers.csv', mimeType: 'text/csv', buffer: Buffer.from('email\nnew-one@example.com\nnew-two@example.com\n') });
    expect(await page.getByRole('radio', { name: /send a confirmation to each/ }).isChecked()).toBe(true);
    await page.getByRole('button', { name: 'Import' }).click();
    await page.locator('[data-report="added"]').waitFor();
    expect(await page.locator('[data-report="added"]').textContent()).toBe('2');
    for (const address of ['new-one@example.com', 'new-two@example.com']) {
      const mail = await waitFor(() => t.sink.to(address)[0], { what: `confirmation to ${address}` });
      expect(mail.parsed.text).toMatch(/\/confirm\//);
    }
  });

  it('shows the queues in Bull Board, and refuses a console form another site posts while signed in', async () => {
    // Every console page so far kept to the CSP, inline styles included.
    expect(cspErrors).toEqual([]);
    await page.getByRole('link', { name: 'Queues' }).click();
    await page.getByText('Paperboy queues').first().waitFor();
    for (const queue of ['mail', 'papers', 'send']) await page.getByText(queue, { exact: true }).first().waitFor();

    const victim = 1;
    expect(await t.service.db.selectFrom('subscribers').select('id').where('id', '=', victim).executeTakeFirst()).toBeDefined();
    const other = await page.context().newPage();
    const answer = other.waitForResponse((r) => r.url().startsWith(`${t.baseUrl}/admin/people/`));
    await other.goto(attacker.url);
    expect([401, 403]).toContain((await answer).status());
    await other.close();
    expect(await t.service.db.selectFrom('subscribers').select('id').where('id', '=', victim).executeTakeFirst()).toBeDefined();
  });

  it('signs out, after which the console asks for the token again, and no page broke the CSP', async () => {
    await page.goto(`${t.baseUrl}/admin`);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(`${t.baseUrl}/admin/sign-in`);
    const again = await page.goto(`${t.baseUrl}/admin`);
    expect(again!.status()).toBe(401);
    // Bull Board's page may use inline styles (allowed there); nothing else may break the policy.
    expect(cspErrors.filter((e) => !e.includes('style'))).toEqual([]);
  });
});
