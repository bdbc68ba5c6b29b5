import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSubscriberToken } from '../../src/subscribers/tokens.ts';
import { startFakeServer, type FakeServer } from '../helpers/papers-fake-server.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { waitFor } from '../helpers/wait-for.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

// A real browser against the production defaults of the bot and CSRF defences: the time trap on,
// the same-origin check as browsers really send Origin and Sec-Fetch-Site, and pages that the CSP
// lets run.
describe('abuse defences in a real browser', () => {
  let t: TestService;
  let browser: Browser;
  let attacker: FakeServer;
  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install chromium (see .ci/run)`);
    // 10 s rather than the default 2: a cold headless browser on a loaded machine takes seconds itself.
    t = await startTestService({ FORM_MIN_FILL_SECONDS: '10' });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--disable-gpu', '--disable-quic', '--disable-sync'] });
    // Another origin whose page posts our form at once, as a CSRF page would.
    attacker = await startFakeServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(`<!doctype html><form id="f" method="post" action="${t.baseUrl}/subscribe"><input name="email" value="csrf-victim@example.org"></form><script>document.getElementById('f').submit()</script>`);
    });
  });
  afterAll(async () => {
    await browser?.close();
    await attacker?.close();
    await t?.stop();
  });

  const mailIdle = () =>
    waitFor(async () => {
      const c = await t.service.queues.byName.mail.getJobCounts('active', 'waiting', 'delayed', 'prioritized');
      return (c.active ?? 0) + (c.waiting ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0) === 0;
    }, { what: 'mail queue idle' });

  it('drops a form sent faster than a person could, and mails a form sent after a pause', { timeout: 60_000 }, async () => {
    const page = await browser.newPage();
    const cspErrors: string[] = [];
    page.on('console', (m) => m.text().includes('Content Security Policy') && cspErrors.push(m.text()));
    await page.goto(`${t.baseUrl}/`);
    await page.getByLabel('Email address').fill('fast@example.net');
    await page.getByRole('button', { name: 'Subscribe' }).click();
    await page.waitForURL(`${t.baseUrl}/subscribe`);
    expect(await page.locator('h1').textContent()).toBe('Check your inbox');
    await mailIdle();
    expect(t.sink.to('fast@example.net')).toHaveLength(0);

    await page.goto(`${t.baseUrl}/`);
    await page.getByLabel('Email address').fill('patient@example.net');
    await page.waitForTimeout(10_200);
    await page.getByRole('button', { name: 'Subscribe' }).click();
    await page.waitForURL(`${t.baseUrl}/subscribe`);
    expect(await page.locator('h1').textContent()).toBe('Check your inbox');
    await waitFor(() => t.sink.to('patient@example.net').length === 1, { what: 'confirmation email' });
    expect(cspErrors).toEqual([]);
    await page.close();
  });

  it('refuses a form that another site posts in the browser', async () => {
    const page = await browser.newPage();
    const response = page.waitForResponse((r) => r.url() === `${t.baseUrl}/subscribe`);
    await page.goto(attacker.url);
    expect((await response).status()).toBe(403);
    expect(await t.service.db.selectFrom('subscribers').select('id').where('email', '=', 'csrf-victim@example.org').executeTakeFirst()).toBeUndefined();
    await page.close();
  });

  it('shows the preferences page and downloads the data without CSP violations', async () => {
    const [row] = await t.service.db.insertInto('subscribers').values({ email: 'browser-prefs@example.net', status: 'active', topics: ['agents'] }).returningAll().execute();
    const context = await browser.newContext({ acceptDownloads: true });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('console', (m) => m.text().includes('Content Security Policy') && errors.push(m.text()));
    await page.goto(`${t.baseUrl}/u/${createSubscriberToken(t.config.secret, 'unsubscribe', row!.id, row!.token_version)}`);
    await page.getByRole('link', { name: /Your preferences and your data/ }).click();
    await page.waitForLoadState();
    expect(await page.locator('h1').textContent()).toBe('Your Paperboy preferences');
    // The long-lived page only mails a short-lived link; that link downloads and erases.
    await page.getByRole('button', { name: 'Email me a link to download or erase my data' }).click();
    await page.waitForLoadState();
    expect(await page.locator('h1').textContent()).toBe('Check your inbox');
    const [mail] = await waitFor(() => (t.sink.to('browser-prefs@example.net').length ? t.sink.to('browser-prefs@example.net') : undefined), { what: 'data link email', timeoutMs: 60_000 });
    const dataPath = /https:\/\/papers\.example\.test(\/data\/[A-Za-z0-9_-]{43})/.exec(mail!.parsed.text!)![1]!;
    await page.goto(`${t.baseUrl}${dataPath}`);
    expect(await page.locator('h1').textContent()).toBe('Your Paperboy data');
    const download = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Download my data' }).click();
    const file = await (await download).path();
    const { readFile } = await import('node:fs/promises');
    const data = JSON.parse(await readFile(file, 'utf8')) as { subscriber: { email: string; topics: string[] } };
    expect(data.subscriber).toMatchObject({ email: 'browser-prefs@example.net', topics: ['agents'] });
    await page.getByRole('button', { name: 'Erase my data' }).click();
    await page.waitForLoadState();
    expect(await page.locator('h1').textContent()).toBe('Your data is erased');
    expect(await t.service.db.selectFrom('subscribers').select('id').where('id', '=', row!.id).executeTakeFirst()).toBeUndefined();
    expect(errors).toEqual([]);
    await context.close();
  });
});
