import { generateKeyPairSync } from 'node:crypto';
// The package's main entry loads undici 8, which needs Node 22; the verifier alone does not.
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assembleSignedDigestParts, compileDigestMime } from '../../src/delivery/digest-mime.ts';
import { DkimSigner, dkimDnsRecord, parseDkimKey, splitPemKeys } from '../../src/delivery/dkim.ts';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.ts';

const rsaPem = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const edPem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

let dns: TestDnsServer;
beforeAll(async () => {
  dns = await startDnsServer({
    'rsa1._domainkey.news.example.org': { TXT: [dkimDnsRecord(rsaPem)] },
    'ed1._domainkey.news.example.org': { TXT: [dkimDnsRecord(edPem)] },
  });
});
afterAll(() => dns.close());

const message = [
  'From: Paperboy <digest@news.example.org>',
  'To: reader@example.com',
  'Subject: =?utf-8?Q?Papers_=E2=80=94_today?=',
  'Message-ID: <digest.e1.s2@news.example.org>',
  'Date: Mon, 30 Nov 2026 06:00:00 +0000',
  'MIME-Version: 1.0',
  'List-Id: "Paperboy daily digest" <digest.news.example.org>',
  'List-Unsubscribe: <https://news.example.org/u/abc>',
  'List-Unsubscribe-Post: List-Unsubscribe=One-Click',
  'Content-Type: text/plain; charset=utf-8',
  '',
  'Hello  there,\t',
  '',
  'the body.',
  '',
  '',
].join('\r\n');

async function verify(raw: Buffer | string) {
  const result = await dkimVerify(Buffer.from(raw), { resolver: dns.resolve });
  return result.results.map((r) => ({ status: r.status.result, algo: r.algo, selector: r.selector, comment: r.status.comment, headers: r.signingHeaders?.keys }));
}

describe('DKIM signer', () => {
  it('signs with RSA-2048 and Ed25519 at once; an independent verifier (mailauth) passes both against keys served by DNS', async () => {
    const signer = new DkimSigner({ domain: 'news.example.org', keys: [{ selector: 'rsa1', privateKey: rsaPem }, { selector: 'ed1', privateKey: edPem }] });
    const signed = await signer.signMessage(Buffer.from(message, 'latin1'));
    const results = await verify(signed);
    expect(results.map((r) => [r.status, r.algo, r.selector])).toEqual([
      ['pass', 'rsa-sha256', 'rsa1'],
      ['pass', 'ed25519-sha256', 'ed1'],
    ]);
    const h = results[0]!.headers!.toLowerCase().split(':').map((s) => s.trim());
    for (const name of ['from', 'to', 'subject', 'date', 'message-id', 'list-id', 'list-unsubscribe', 'list-unsubscribe-post']) expect(h).toContain(name);
  });

  it.each([
    ['List-Unsubscribe', 'List-Unsubscribe: <https://news.example.org/u/abc>', 'List-Unsubscribe: <https://evil.example/u/abc>'],
    ['List-Unsubscribe-Post', 'List-Unsubscribe-Post: List-Unsubscribe=One-Click', 'List-Unsubscribe-Post: List-Unsubscribe=One-Click-X'],
    ['Subject', 'Subject: =?utf-8?Q?Papers_=E2=80=94_today?=', 'Subject: Win a prize'],
    ['To', 'To: reader@example.com', 'To: other@example.com'],
    ['List-Id', 'List-Id: "Paperboy daily digest" <digest.news.example.org>', 'List-Id: <other.example.org>'],
    ['Date', 'Date: Mon, 30 Nov 2026 06:00:00 +0000', 'Date: Tue, 01 Dec 2026 06:00:00 +0000'],
    ['Message-ID', 'Message-ID: <digest.e1.s2@news.example.org>', 'Message-ID: <x@news.example.org>'],
    ['From', 'From: Paperboy <digest@news.example.org>', 'From: Paperboy <ceo@news.example.org>'],
  ])('fails for both key types when the signed %s header is altered', async (_name, original, altered) => {
    const signer = new DkimSigner({ domain: 'news.example.org', keys: [{ selector: 'rsa1', privateKey: rsaPem }, { selector: 'ed1', privateKey: edPem }] });
    const signed = (await signer.signMessage(Buffer.from(message, 'latin1'))).toString('latin1');
    expect(signed).toContain(original);
    const results = await verify(signed.replace(original, altered));
    expect(results.map((r) => r.status)).toEqual(['fail', 'fail']);
  });

  it('fails when a second List-Unsubscribe is added in transit (over-signed) or the body changes', async () => {
    const signer = new DkimSigner({ domain: 'news.example.org', keys: [{ selector: 'ed1', privateKey: edPem }] });
    const signed = (await signer.signMessage(Buffer.from(message, 'latin1'))).toString('latin1');
    expect((await verify(signed)).map((r) => r.status)).toEqual(['pass']);
    const added = signed.replace('\r\n\r\n', '\r\nList-Unsubscribe: <https://evil.example/u>\r\n\r\n');
    expect((await verify(added)).map((r) => r.status)).toEqual(['fail']);
    // mailauth reports a body that no longer matches bh= as neutral ("body hash did not verify").
    const body = await verify(signed.replace('the body.', 'the b0dy.'));
    expect(body.map((r) => [r.status, r.comment])).toEqual([['neutral', 'body hash did not verify']]);
  });

  it('passes after a relay re-folds a signed header (relaxed header canonicalisation)', async () => {
    const signer = new DkimSigner({ domain: 'news.example.org', keys: [{ selector: 'rsa1', privateKey: rsaPem }] });
    const signed = (await signer.signMessage(Buffer.from(message, 'latin1'))).toString('latin1');
    const refolded = signed.replace('List-Id: "Paperboy daily digest" <digest', 'List-Id:   "Paperboy daily digest"\r\n\t<digest');
    expect((await verify(refolded)).map((r) => r.status)).toEqual(['pass']);
  });

  it('fails when the DNS record holds another key', async () => {
    const other = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    dns.zone['ed2._domainkey.news.example.org'] = { TXT: [dkimDnsRecord(other)] };
    const signer = new DkimSigner({ domain: 'news.example.org', keys: [{ selector: 'ed2', privateKey: edPem }] });
    expect((await verify(await signer.signMessage(Buffer.from(message, 'latin1')))).map((r) => r.status)).toEqual(['fail']);
  });

  it('refuses short RSA keys and other key types, and splits a value holding two PEM keys', () => {
    const short = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    expect(() => parseDkimKey(short)).toThrow(/1024 bits/);
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    expect(() => parseDkimKey(ec)).toThrow(/ec key/);
    expect(() => parseDkimKey('nonsense')).toThrow(/PEM/);
    const both = splitPemKeys(`${rsaPem}\n${edPem}`.replace(/\n/g, '\\n'));
    expect(both.map((pem) => parseDkimKey(pem).algorithm)).toEqual(['rsa-sha256', 'ed25519-sha256']);
  });
});

describe('DKIM on the digest fast path (shared pieces, per-message values)', () => {
  const context = { publicUrl: 'https://news.example.org', mailFrom: { name: 'Paperboy', address: 'digest@news.example.org' }, listId: 'digest.news.example.org' };
  const edition = {
    id: 9,
    subject: 'Trending papers: Über große Modelle',
    html_template: `<p>${'Ünïcödé — '.repeat(40)}</p>\n.leading dot\n<a href="%%UNSUBSCRIBE_URL%%">Unsubscribe</a> <a href="%%PREFERENCES_URL%%">data</a>\n<p>after</p>`,
    text_template: `Hello\n.dot line\nUnsubscribe: %%UNSUBSCRIBE_URL%%\nData: %%PREFERENCES_URL%%\nend\n`,
  };
  const signer = new DkimSigner({ domain: 'news.example.org', keys: [{ selector: 'rsa1', privateKey: rsaPem }, { selector: 'ed1', privateKey: edPem }] });
  const recipient = (n: number) => ({
    subscriberId: n,
    email: `reader${n}@example.com`,
    values: { UNSUBSCRIBE_URL: `https://news.example.org/u/${n}.1.tok${n}`, PREFERENCES_URL: `https://news.example.org/p/${n}.1.pref${n}` },
  });

  it.each([false, true])('every recipient gets signatures that pass for both key types (dot-stuffed pieces: %s)', async (dotStuffed) => {
    const compiled = compileDigestMime(edition, context, { dotStuffed, dkim: signer });
    for (const n of [1, 2, 3]) {
      const message = (await assembleSignedDigestParts(compiled, recipient(n)))!;
      let raw = Buffer.concat(message.parts).toString('latin1');
      // What the server stores: SMTP transparency undone (RFC 5321 §4.5.2).
      if (dotStuffed) raw = raw.replace(/\r\n\.\./g, '\r\n.');
      expect(raw).toContain(`https://news.example.org/u/${n}.1.tok${n}`);
      expect((await verify(raw)).map((r) => [r.status, r.algo])).toEqual([
        ['pass', 'rsa-sha256'],
        ['pass', 'ed25519-sha256'],
      ]);
      // A personal link swapped for another person's breaks the body hash.
      const swapped = raw.replace(`/p/${n}.1.pref${n}`, `/p/${n + 1}.1.pref${n + 1}`);
      expect((await verify(swapped)).map((r) => r.status)).toEqual(['neutral', 'neutral']);
    }
  });

  it.each([false, true])('a variant stored as a layout of parts is signed alike (dot-stuffed pieces: %s)', async (dotStuffed) => {
    const parts = new Map([
      ['a', `${'Ünïcödé — '.repeat(40)}</p>`],
      ['b', ' <a href="%%PREFERENCES_URL%%">data</a>\n.part dot at a line start\n<p>after</p>'],
    ]);
    const variant = {
      id: 9,
      subject: edition.subject,
      html_template: null,
      layout: { items: ['<p>', { part: 'a' }, '\n.leading dot\n<a href="%%UNSUBSCRIBE_URL%%">Unsubscribe</a>', { part: 'b' }], parts },
      text_template: edition.text_template,
    };
    const compiled = compileDigestMime(variant, context, { dotStuffed, dkim: signer });
    for (const n of [1, 2]) {
      let raw = Buffer.concat((await assembleSignedDigestParts(compiled, recipient(n)))!.parts).toString('latin1');
      if (dotStuffed) raw = raw.replace(/\r\n\.\./g, '\r\n.');
      expect((await verify(raw)).map((r) => [r.status, r.algo])).toEqual([
        ['pass', 'rsa-sha256'],
        ['pass', 'ed25519-sha256'],
      ]);
      expect(raw).toContain('\r\n.part dot at a line start');
    }
  });

  it('signatures pass for many recipients whose values re-encode differently, and fail once a per-recipient header is altered', async () => {
    const compiled = compileDigestMime(edition, context, { dotStuffed: true, dkim: signer });
    // Values that stay literal, that need quoted-printable (spaces, non-ASCII, `=`), that wrap
    // over several encoded lines, and that start a line with a dot; with and without a mailto:.
    const odd = ['a b', 'Zoë=ü', `${'x'.repeat(90)} y`, '.dot', '  two  spaces\ttab ', ''];
    for (let n = 1; n <= 36; n++) {
      const r = recipient(n);
      const values = { ...r.values, PREFERENCES_URL: `${r.values.PREFERENCES_URL}${odd[n % odd.length]}${'/q'.repeat(n)}` };
      const mailto = n % 2 === 0 ? `mailto:u+${n}abc@bounce.news.example.org?subject=unsubscribe` : undefined;
      const message = (await assembleSignedDigestParts(compiled, { ...r, email: `r${'e'.repeat(n)}@example${n}.com`, values, mailtoUnsubscribe: mailto }))!;
      const raw = Buffer.concat(message.parts).toString('latin1').replace(/\r\n\.\./g, '\r\n.');
      expect((await verify(raw)).map((v) => v.status), `recipient ${n}`).toEqual(['pass', 'pass']);
      if (n % 6 !== 0) continue;
      const alter = (pattern: RegExp, to: string) => {
        const altered = raw.replace(pattern, to);
        expect(altered).not.toBe(raw);
        return verify(altered);
      };
      expect((await alter(/^To: r/m, 'To: x')).map((v) => v.status)).toEqual(['fail', 'fail']);
      expect((await alter(/^Date: \w+/m, 'Date: Sun')).map((v) => v.status)).toEqual(['fail', 'fail']);
      expect((await alter(/^Message-ID: <digest/m, 'Message-ID: <other')).map((v) => v.status)).toEqual(['fail', 'fail']);
      expect((await alter(/^List-Unsubscribe: <https:\/\/news/m, 'List-Unsubscribe: <https://evil')).map((v) => v.status)).toEqual(['fail', 'fail']);
      if (mailto) expect((await alter(/<mailto:u\+/, '<mailto:x+')).map((v) => v.status)).toEqual(['fail', 'fail']);
    }
  });

  it('the shared body-prefix hash state is never consumed: signing the same recipient twice gives the same signatures', async () => {
    const compiled = compileDigestMime(edition, context, { dkim: signer });
    const date = 'Mon, 30 Nov 2026 06:00:00 +0000';
    const a = (await assembleSignedDigestParts(compiled, recipient(5), date))!;
    await assembleSignedDigestParts(compiled, recipient(6), date);
    const b = (await assembleSignedDigestParts(compiled, recipient(5), date))!;
    // Ed25519 and RSA PKCS#1 v1.5 signatures are deterministic.
    expect(a.parts[0]!.toString('latin1')).toBe(b.parts[0]!.toString('latin1'));
    expect(a.parts.slice(1).every((part, i) => i === 0 || part.equals(b.parts[i + 1]!))).toBe(true);
  });
});
