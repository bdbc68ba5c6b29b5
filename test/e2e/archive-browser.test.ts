import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendDigestTo } from '../helpers/send-digest.ts';
import { startTestService, type TestService } from '../helpers/service.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const PUBLIC = 'https://papers.example.test';

describe('the archive in a real browser on a phone-sized screen', () => {
  let t: TestService;
  let browser: Browser;
  let sent: Awaited<ReturnType<typeof sendDigestTo>>;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install chromium (see .ci/run)`);
    t = await startTestService({ LOAD_SAMPLE_DATA: 'true' });
    sent = await sendDigestTo(t, '2025-12-26', 'browser.reader@example.net');
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--disable-gpu', '--disable-quic', '--disable-sync'] });
  });
  afterAll(async () => {
    await browser?.close();
    await t?.stop();
  });

  /** A 390 px wide phone whose requests to PUBLIC_URL reach this test's server over real HTTP. */
  async function phone(): Promise<{ context: BrowserContext; page: Page; problems: string[] }> {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    await context.route(`${PUBLIC}/**`, async (route) => {
      const response = await route.fetch({ url: route.request().url().replace(PUBLIC, t.baseUrl) });
      await route.fulfill({ response });
    });
    const page = await context.newPage();
    const problems: string[] = [];
    // Only what happens on our pages counts (the captured email, shown from about:blank, names
    // images on hosts this machine cannot reach).
    const ours = () => page.url().startsWith(PUBLIC);
    page.on('console', (m) => {
      if (ours() && (m.type() === 'error' || m.type() === 'warning')) problems.push(`${m.type()}: ${m.text()} (${m.location().url})`);
    });
    page.on('pageerror', (e) => ours() && problems.push(`pageerror: ${e.message}`));
    // CSP violations also surface as DOM events; count those too.
    await context.addInitScript({
      content: "document.addEventListener('securitypolicyviolation', (e) => console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));",
    });
    return { context, page, problems };
  }

  async function expectFitsTheScreen(page: Page) {
    // A string: the test code is typed for Node, without the DOM library.
    const widths = (await page.evaluate(`({
      document: document.documentElement.scrollWidth,
      viewport: window.innerWidth,
      widest: Math.max(...[...document.querySelectorAll('main *')].map((el) => el.getBoundingClientRect().right)),
    })`)) as { document: number; viewport: number; widest: number };
    expect(widths.viewport).toBe(390);
    expect(widths.document).toBeLessThanOrEqual(390);
    expect(widths.widest).toBeLessThanOrEqual(390);
  }

  it('opens "View in browser" from the captured digest and shows the edition without console or CSP errors', async () => {
    const { context, page, problems } = await phone();
    await page.setContent(sent.html);
    await page.getByRole('link', { name: 'View in browser' }).click();
    await page.waitForURL(`${PUBLIC}/archive/2025-12-26`);
    await page.waitForLoadState('load');
    expect(await page.locator('h1').textContent()).toBe('Trending research papers');
    const cards = page.locator('article.paper');
    expect(await cards.count()).toBe(sent.edition.paper_ids.length);
    const hrefs = await cards.locator('h3 a').evaluateAll((links) => links.map((a) => a.getAttribute('href')));
    expect(hrefs).toEqual(sent.edition.paper_ids.map((id) => `https://huggingface.co/papers/${id}`));
    // The stylesheet applied (CSP allowed it): cards have a border and the page its colours.
    expect(await page.evaluate(`getComputedStyle(document.querySelector('article.paper')).borderTopStyle`)).toBe('solid');
    await expectFitsTheScreen(page);
    expect(await page.content()).not.toContain('browser.reader@example.net');
    expect(problems).toEqual([]);
    // A subresource (the logo) may still be in a route handler: let it go quietly.
    await context.unrouteAll({ behavior: 'ignoreErrors' });
    await context.close();
  });

  it('lists the editions on /archive and follows one, fitting 390 px', async () => {
    const { context, page, problems } = await phone();
    const response = await page.goto(`${PUBLIC}/archive`);
    expect(response?.status()).toBe(200);
    expect(await page.locator('ol.editions li').count()).toBe(5);
    await expectFitsTheScreen(page);
    await page.getByRole('link', { name: 'Wednesday, 24 December 2025' }).click();
    await page.waitForURL(`${PUBLIC}/archive/2025-12-24`);
    expect(await page.locator('article.paper').count()).toBeGreaterThan(0);
    await expectFitsTheScreen(page);
    // A day without an edition: the 404 page leads back to the archive.
    const missing = await page.goto(`${PUBLIC}/archive/2024-01-01`);
    expect(missing?.status()).toBe(404);
    await page.getByRole('link', { name: 'See every edition in the archive' }).click();
    await page.waitForURL(`${PUBLIC}/archive`);
    await expectFitsTheScreen(page);
    expect(problems.filter((p) => !p.includes('404'))).toEqual([]);
    // A subresource (the logo) may still be in a route handler: let it go quietly.
    await context.unrouteAll({ behavior: 'ignoreErrors' });
    await context.close();
  });
});
