import { generateKeyPairSync } from 'node:crypto';
// The package's main entry loads undici 8, which needs Node 22; the verifier alone does not.
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dkimDnsRecord } from '../../src/delivery/dkim.ts';
import { parseVerpAddress } from '../../src/delivery/verp.ts';
import { findSendRunById } from '../../src/delivery/send-run.repository.ts';
import { importPapersFile, sampleDataFile } from '../../src/papers/import-file.ts';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { waitFor } from '../helpers/wait-for.ts';

const pem = (type: 'rsa' | 'ed25519') =>
  (type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ed25519')).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const rsaPem = pem('rsa');
const edPem = pem('ed25519');

describe('digests and confirmation mail are DKIM-signed by the service, digests carry a VERP return path', () => {
  let t: TestService;
  let dns: TestDnsServer;
  beforeAll(async () => {
    dns = await startDnsServer({
      'rsa2026._domainkey.papers.example.test': { TXT: [dkimDnsRecord(rsaPem)] },
      'ed2026._domainkey.papers.example.test': { TXT: [dkimDnsRecord(edPem)] },
    });
    t = await startTestService({
      DKIM_DOMAIN: 'papers.example.test',
      DKIM_SELECTOR: 'rsa2026,ed2026',
      // One variable, both keys, newlines escaped as an .env file would carry them.
      DKIM_PRIVATE_KEY: `${rsaPem}${edPem}`.replace(/\n/g, '\\n'),
      BOUNCE_DOMAIN: 'bounce.papers.example.test',
    });
    await importPapersFile(t.service.db, sampleDataFile);
  });
  afterAll(async () => {
    await t?.stop();
    await dns?.close();
  });

  const verify = async (raw: string) =>
    (await dkimVerify(Buffer.from(raw, 'latin1'), { resolver: dns.resolve })).results.map((r) => [r.status.result, r.signingDomain, r.selector]);

  it('signs every digest with RSA-2048 and Ed25519; both verify, and fail once List-Unsubscribe or Subject is altered', async () => {
    const emails = ['a.reader@example.org', 'b.reader@example.net', 'c.reader@example.com'];
    await t.service.db.insertInto('subscribers').values(emails.map((email) => ({ email, status: 'active' as const }))).execute();
    const { run } = await t.service.services.requestDailyDigest('2025-12-26');
    await waitFor(async () => (await findSendRunById(t.service.db, run!.id))?.status === 'sent', { what: 'run sent' });
    for (const email of emails) {
      const [digest] = t.sink.to(email);
      expect(digest).toBeDefined();
      expect(await verify(digest!.raw)).toEqual([
        ['pass', 'papers.example.test', 'rsa2026'],
        ['pass', 'papers.example.test', 'ed2026'],
      ]);
      const signed = digest!.headerLines('dkim-signature');
      expect(signed).toHaveLength(2);
      for (const line of signed) {
        const h = /\bh=([^;]+)/.exec(line)![1]!.replace(/\s+/g, '').split(':');
        for (const name of ['from', 'to', 'subject', 'date', 'message-id', 'list-unsubscribe', 'list-unsubscribe-post', 'list-id']) expect(h).toContain(name);
      }
      const [unsubscribe] = digest!.headerLines('list-unsubscribe');
      // Both List-Unsubscribe forms (RFC 8058 https first, RFC 2369 mailto), and the VERP return path.
      const delivery = await t.service.db.selectFrom('deliveries').innerJoin('subscribers', 'subscribers.id', 'deliveries.subscriber_id').select('deliveries.id').where('subscribers.email', '=', email).executeTakeFirstOrThrow();
      const settings = { ...t.config.bounce!, secrets: [t.config.secret] };
      expect(parseVerpAddress(settings, digest!.envelopeFrom)).toEqual({ ok: true, purpose: 'bounce', deliveryId: Number(delivery.id) });
      const mailto = /^<https:\/\/papers\.example\.test\/u\/[^>]+>, <mailto:([^?>]+)\?subject=unsubscribe>$/.exec(unsubscribe!);
      expect(mailto).not.toBeNull();
      expect(parseVerpAddress(settings, mailto![1]!)).toEqual({ ok: true, purpose: 'unsubscribe', deliveryId: Number(delivery.id) });
      const altered = digest!.raw.replace(/^List-Unsubscribe: <([^>]+)>/m, (_m, url: string) => `List-Unsubscribe: <${url}x>`);
      expect(altered).not.toBe(digest!.raw);
      expect((await verify(altered)).map((r) => r[0])).toEqual(['fail', 'fail']);
      expect((await verify(digest!.raw.replace(/^Subject: /m, 'Subject: FREE '))).map((r) => r[0])).toEqual(['fail', 'fail']);
      expect(unsubscribe).toMatch(/^<https:\/\/papers\.example\.test\/u\//);
    }
  });

  it('signs the confirmation email too (the full MIME builder path)', async () => {
    const response = await fetch(`${t.baseUrl}/subscribe`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ email: 'new.reader@example.org' }).toString(),
    });
    expect(response.status).toBe(200);
    const [confirmation] = await waitFor(() => (t.sink.to('new.reader@example.org').length > 0 ? t.sink.to('new.reader@example.org') : undefined), {
      what: 'confirmation email',
    });
    expect(confirmation!.parsed.subject).toBe('Confirm your Paperboy subscription');
    expect(await verify(confirmation!.raw)).toEqual([
      ['pass', 'papers.example.test', 'rsa2026'],
      ['pass', 'papers.example.test', 'ed2026'],
    ]);
    expect((await verify(confirmation!.raw.replace(/\/confirm\//, '/confirm/x'))).map((r) => r[0])).toEqual(['neutral', 'neutral']);
  });
});
