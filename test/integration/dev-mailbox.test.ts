import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../helpers/service.ts';
import { waitFor } from '../helpers/wait-for.ts';

/** With no SMTP_URL, mail goes to the built-in capture server and shows on /dev/mail. */
describe('development mailbox', () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService({ SMTP_URL: '', DEV_SMTP_PORT: '0' });
  });
  afterAll(async () => t?.stop());

  it('captures the confirmation email and shows it with its links', async () => {
    await fetch(`${t.baseUrl}/subscribe`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'dev@example.com' }) });
    const list = await waitFor(async () => {
      const body = (await (await fetch(`${t.baseUrl}/dev/mail.json`)).json()) as { messages: { id: number; to: string[]; subject: string }[] };
      return body.messages.length > 0 ? body.messages : undefined;
    }, { what: 'a captured message' });
    expect(list[0]).toMatchObject({ to: ['dev@example.com'], subject: 'Confirm your Paperboy subscription' });
    expect(t.sink.messages).toHaveLength(0);

    const index = await (await fetch(`${t.baseUrl}/dev/mail`)).text();
    expect(index).toContain('Confirm your Paperboy subscription');
    const page = await (await fetch(`${t.baseUrl}/dev/mail/${list[0]!.id}`)).text();
    expect(page).toMatch(/<a href="https:\/\/papers\.example\.test\/confirm\/[A-Za-z0-9_-]{43}">/);
    const html = await fetch(`${t.baseUrl}/dev/mail/${list[0]!.id}/html`);
    expect(html.headers.get('content-security-policy')).toContain('sandbox');
    expect(await html.text()).toContain('Confirm subscription');
    expect((await fetch(`${t.baseUrl}/dev/mail/999999`)).status).toBe(404);
    expect((await fetch(`${t.baseUrl}/dev/mail/abc`)).status).toBe(400);
  });

  it('is not there when an SMTP relay is configured', async () => {
    const relay = await startTestService();
    try {
      expect((await fetch(`${relay.baseUrl}/dev/mail`)).status).toBe(404);
    } finally {
      await relay.stop();
    }
  });
});
