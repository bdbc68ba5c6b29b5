import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PaperRecord } from '../../src/papers/hf-item.ts';
import { upsertPapers } from '../../src/papers/paper.repository.ts';
import { createSubscriberToken } from '../../src/subscribers/tokens.ts';
import { startTestService, type TestService } from '../helpers/service.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const paper = (arxivId: string, title: string, featuredOn: string): PaperRecord => ({
  arxivId,
  title,
  abstract: `${title}. An abstract.`,
  authors: ['A. Author'],
  organization: null,
  publishedAt: null,
  featuredOn,
  upvotes: 12,
  comments: 0,
  githubUrl: null,
  projectUrl: null,
  thumbnailUrl: null,
  withdrawnAt: null,
});

describe('the preference centre in a real browser', () => {
  let t: TestService;
  let browser: Browser;
  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install chromium (see .ci/run)`);
    t = await startTestService();
    await upsertPapers(t.service.db, [
      paper('2512.30001', 'Robot learning from play', '2025-12-26'),
      paper('2512.30002', 'Diffusion transformers at scale', '2025-12-25'),
    ]);
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--disable-gpu', '--disable-quic', '--disable-sync'] });
  });
  afterAll(async () => {
    await browser?.close();
    await t?.stop();
  });

  const reader = async (email: string) => {
    const row = await t.service.db.insertInto('subscribers').values({ email, status: 'active', topics: ['agents'] }).returning(['id', 'token_version']).executeTakeFirstOrThrow();
    return { id: row.id, path: `/p/${createSubscriberToken(t.config.secret, 'preferences', row.id, row.token_version)}` };
  };
  const saved = (id: number) => t.service.db.selectFrom('subscribers').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

  /** Every console error (CSP violations are reported there), page error and failed request. */
  const watch = (page: Page) => {
    const problems: string[] = [];
    page.on('console', (m) => (m.type() === 'error' || m.text().includes('Content Security Policy')) && problems.push(`console: ${m.text()}`));
    page.on('pageerror', (e) => problems.push(`page: ${e.message}`));
    page.on('requestfailed', (r) => problems.push(`request: ${r.url()} ${r.failure()?.errorText}`));
    return problems;
  };

  const fillAndSave = async (page: Page) => {
    await page.getByLabel('Time zone').fill('Australia/Lord_Howe');
    await page.getByLabel('Delivery hour').selectOption('6');
    await page.getByLabel('Weekly: the best of the week, on Monday').check();
    await page.getByLabel('Only my topics').check();
    await page.getByRole('button', { name: 'Save preferences' }).click();
    await page.waitForURL(/\?saved=1$/);
    expect(await page.getByRole('status').textContent()).toContain('Your changes apply from the next edition');
  };

  it('with JavaScript: the preview appears in place, the form saves, no console or CSP errors', async () => {
    const { id, path } = await reader('browser-centre@example.net');
    const context: BrowserContext = await browser.newContext();
    const page = await context.newPage();
    const problems = watch(page);
    await page.goto(`${t.baseUrl}${path}`);
    expect(await page.locator('h1').textContent()).toBe('Your Paperboy preferences');
    await page.getByLabel(/Topics you care about/).fill('robot learning, "diffusion transformers"');
    await page.getByRole('button', { name: 'Preview' }).click();
    await expect.poll(() => page.locator('#topic-preview h3').allTextContents()).toEqual(['robot learning', '"diffusion transformers"']);
    expect(await page.locator('#topic-preview a').allTextContents()).toEqual(['Robot learning from play', 'Diffusion transformers at scale']);
    // In place: the page did not change, nothing was saved.
    expect(page.url()).toBe(`${t.baseUrl}${path}`);
    expect((await saved(id)).topics).toEqual(['agents']);
    await fillAndSave(page);
    expect(await saved(id)).toMatchObject({
      topics: ['robot learning', '"diffusion transformers"'],
      time_zone: 'Australia/Lord_Howe',
      delivery_hour: 6,
      frequency: 'weekly',
      only_my_topics: true,
    });
    expect(await page.getByLabel(/Topics you care about/).inputValue()).toBe('robot learning, "diffusion transformers"');
    expect(problems).toEqual([]);
    await context.close();
  });

  it('with JavaScript: a refused topic shows its message in place (the 400 is the only console line)', async () => {
    const { id, path } = await reader('browser-refused@example.net');
    const page = await browser.newPage();
    const problems = watch(page);
    await page.goto(`${t.baseUrl}${path}`);
    await page.getByLabel(/Topics you care about/).fill('"open quote');
    await page.getByRole('button', { name: 'Preview' }).click();
    await expect.poll(() => page.locator('#topic-preview [role=alert]').textContent()).toMatch(/quote is not closed/);
    expect(page.url()).toBe(`${t.baseUrl}${path}`);
    expect((await saved(id)).topics).toEqual(['agents']);
    expect(problems).toEqual(['console: Failed to load resource: the server responded with a status of 400 (Bad Request)']);
    await page.close();
  });

  it('without JavaScript: the Preview button brings the page back with the results, and saving works', async () => {
    const { id, path } = await reader('browser-nojs@example.net');
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    const problems = watch(page);
    await page.goto(`${t.baseUrl}${path}`);
    await page.getByLabel(/Topics you care about/).fill('robot learning');
    await page.getByRole('button', { name: 'Preview' }).click();
    await page.waitForURL(`${t.baseUrl}${path}/preview`);
    expect(await page.locator('#topic-preview a').allTextContents()).toEqual(['Robot learning from play']);
    expect(await page.getByLabel(/Topics you care about/).inputValue()).toBe('robot learning');
    expect((await saved(id)).topics).toEqual(['agents']);
    await fillAndSave(page);
    expect(await saved(id)).toMatchObject({ topics: ['robot learning'], time_zone: 'Australia/Lord_Howe', delivery_hour: 6 });
    expect(problems).toEqual([]);
    await context.close();
  });

  it('the sign-up page previews in place too, without console or CSP errors', async () => {
    const context = await browser.newContext({ timezoneId: 'Europe/Berlin' });
    const page = await context.newPage();
    const problems = watch(page);
    await page.goto(`${t.baseUrl}/`);
    await expect.poll(() => page.getByLabel('Time zone').inputValue()).toBe('Europe/Berlin');
    await page.getByLabel(/Topics you care about/).fill('diffusion');
    await page.getByRole('button', { name: 'Preview' }).click();
    await expect.poll(() => page.locator('#topic-preview a').allTextContents()).toEqual(['Diffusion transformers at scale']);
    expect(problems).toEqual([]);
    await context.close();
  });
});
