import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../helpers/service.ts';
import { waitFor } from '../helpers/wait-for.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

describe('subscribing in a real browser', () => {
  let t: TestService;
  let browser: Browser;
  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install chromium (see .ci/run)`);
    t = await startTestService();
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--disable-gpu', '--disable-quic', '--disable-sync'] });
  });
  afterAll(async () => {
    await browser?.close();
    await t?.stop();
  });

  it('subscribes through the form, confirms with the button and lands on the success page', async () => {
    const context = await browser.newContext({ timezoneId: 'America/New_York', locale: 'en-US' });
    const page = await context.newPage();
    await page.goto(`${t.baseUrl}/`);
    expect(await page.title()).toContain('Paperboy');
    await expect.poll(() => page.locator('input[name="timeZone"]').inputValue()).toBe('America/New_York');
    // Accessible names: the form is usable by label, as a screen reader user would find it.
    await page.getByLabel('Email address').fill('reader@example.net');
    await page.getByRole('button', { name: 'Subscribe' }).click();
    await page.waitForURL(`${t.baseUrl}/subscribe`);
    expect(await page.locator('h1').textContent()).toBe('Check your inbox');

    const [mail] = await waitFor(() => (t.sink.to('reader@example.net').length ? t.sink.to('reader@example.net') : undefined), { what: 'confirmation email' });
    const link = /https:\/\/papers\.example\.test(\/confirm\/\S+)/.exec(mail!.parsed.text ?? '')![1]!;
    const subscriber = () => t.service.db.selectFrom('subscribers').selectAll().where('email', '=', 'reader@example.net').executeTakeFirstOrThrow();
    expect((await subscriber()).time_zone).toBe('America/New_York');

    await page.goto(`${t.baseUrl}${link}`);
    expect((await subscriber()).status).toBe('pending');
    await page.getByRole('button', { name: 'Confirm subscription' }).click();
    await page.waitForLoadState();
    expect(await page.locator('h1').textContent()).toContain('You are subscribed');
    expect((await subscriber()).status).toBe('active');
    await context.close();
  });

  it('shows the address error next to the field, with the typed value kept', async () => {
    const page = await browser.newPage();
    await page.goto(`${t.baseUrl}/`);
    await page.getByLabel('Email address').fill('not an address');
    await page.getByRole('button', { name: 'Subscribe' }).click();
    await page.waitForLoadState();
    expect(await page.getByRole('alert').textContent()).toContain('one email address');
    expect(await page.getByLabel('Email address').inputValue()).toBe('not an address');
    expect(await page.getByLabel('Email address').getAttribute('aria-invalid')).toBe('true');
    await page.close();
  });
});
