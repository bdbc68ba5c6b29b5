import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../helpers/service.ts';
import { waitFor } from '../helpers/wait-for.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// Not localhost and not 127.x: Chromium treats this origin as not secure, as it would a LAN address.
const HOST_NAME = 'paperboy.lan';

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });

/**
 * A plain-http install on a LAN name: the browser must load our stylesheet and script over http
 * and post the form there (upgrade-insecure-requests would send all three to https and fail).
 */
describe('a plain-http site on a non-loopback name, in Chromium', () => {
  let t: TestService;
  let browser: Browser;
  let origin: string;
  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install chromium (see .ci/run)`);
    const port = await freePort();
    origin = `http://${HOST_NAME}:${port}`;
    t = await startTestService({ PORT: String(port), PUBLIC_URL: origin });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--disable-gpu', '--disable-quic', '--disable-sync', `--host-resolver-rules=MAP ${HOST_NAME} 127.0.0.1`],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await t?.stop();
  });

  it('loads the stylesheet and script and posts the form', { timeout: 120_000 }, async () => {
    const page = await browser.newPage();
    const failed: string[] = [];
    page.on('requestfailed', (request) => failed.push(`${request.url()} ${request.failure()?.errorText}`));
    await page.goto(`${origin}/`);
    expect(await page.evaluate<boolean>('window.isSecureContext')).toBe(false);
    // The stylesheet applied (its rules are readable: same origin), and the script filled the time zone.
    expect(await page.evaluate<number>('[...document.styleSheets].reduce((n, sheet) => n + sheet.cssRules.length, 0)')).toBeGreaterThan(0);
    await expect.poll(() => page.locator('input[name="timeZone"]').inputValue()).not.toBe('');
    await page.getByLabel('Email address').fill('lan-reader@example.net');
    await page.getByRole('button', { name: 'Subscribe' }).click();
    await page.waitForURL(`${origin}/subscribe`);
    expect(await page.locator('h1').textContent()).toBe('Check your inbox');
    expect(failed).toEqual([]);
    await waitFor(() => t.sink.to('lan-reader@example.net').length === 1, { what: 'confirmation email', timeoutMs: 60_000 });
    await page.close();
  });
});
