import { simpleParser } from 'mailparser';
import { describe, expect, it } from 'vitest';
import { assembleDigest, assembleDigestParts, compileDigestMime } from '../../src/delivery/digest-mime.ts';
import { encodeQuotedPrintable } from '../../src/delivery/quoted-printable.ts';

const context = { publicUrl: 'https://papers.example.test', mailFrom: { name: 'Paperboy', address: 'digest@papers.example.test' }, listId: 'digest.papers.example.test' };
const longLine = `${'Ünïcödé — '.repeat(30)}=equals= and trailing space `;
const html = `<html><body><p>${longLine}</p>\n<a href="%%UNSUBSCRIBE_URL%%">Unsubscribe</a><p>x%%UNSUBSCRIBE_URL%%y</p>\n<p>${'a'.repeat(200)}</p>\n.leading dot\n</body></html>`;
const text = `Hello ${longLine}\n\nUnsubscribe: %%UNSUBSCRIBE_URL%%\n\n.dot line\nend\t\n`;
const edition = { id: 42, subject: 'Trending papers, Friday: Über große Modelle — a title long enough to need folding in the header', html_template: html, text_template: text };

function unfoldedHeaders(raw: string): string[] {
  return raw.split('\r\n\r\n', 1)[0]!.replace(/\r\n[ \t]+/g, ' ').split('\r\n');
}

describe('digest MIME built once per edition', () => {
  const compiled = compileDigestMime(edition, context);
  const url = 'https://papers.example.test/u/1a.1.abcdefghijklmnopqrstuvwx';
  const assembled = assembleDigest(compiled, { subscriberId: 7, email: 'reader@example.org', values: { UNSUBSCRIBE_URL: url } }, 'Fri, 27 Nov 2026 06:00:00 +0000')!;
  const message = { ...assembled, raw: assembled.raw.toString('latin1') };

  it('decodes to exactly the rendered html and text with the recipient values', async () => {
    const parsed = await simpleParser(message.raw);
    // The oracle is a plain string replacement, not the implementation's template functions.
    expect(parsed.html).toBe(html.replaceAll('%%UNSUBSCRIBE_URL%%', url));
    expect(parsed.text).toBe(text.replaceAll('%%UNSUBSCRIBE_URL%%', url));
    expect(parsed.subject).toBe(edition.subject);
    expect(parsed.messageId).toBe('<digest.e42.s7@papers.example.test>');
    expect(parsed.to).toMatchObject({ value: [{ address: 'reader@example.org' }] });
  });

  it('has each list header once, multipart/alternative text first, and body lines of at most 76 characters', async () => {
    const headers = unfoldedHeaders(message.raw);
    const named = (name: string) => headers.filter((h) => h.toLowerCase().startsWith(`${name.toLowerCase()}:`));
    expect(named('List-Unsubscribe')).toEqual([`List-Unsubscribe: <${url}>`]);
    expect(named('List-Unsubscribe-Post')).toEqual(['List-Unsubscribe-Post: List-Unsubscribe=One-Click']);
    expect(named('List-Id')).toEqual(['List-Id: "Paperboy daily digest" <digest.papers.example.test>']);
    expect(named('Message-ID')).toEqual(['Message-ID: <digest.e42.s7@papers.example.test>']);
    expect(named('Date')).toEqual(['Date: Fri, 27 Nov 2026 06:00:00 +0000']);
    expect(named('MIME-Version')).toEqual(['MIME-Version: 1.0']);
    expect(named('From')).toEqual(['From: Paperboy <digest@papers.example.test>']);
    expect(named('Content-Type')[0]).toMatch(/^Content-Type: multipart\/alternative; boundary="=_pb_e42_[0-9a-f]+"$/);
    const parsed = await simpleParser(message.raw);
    expect(parsed.text).toBeTruthy();
    const types = [...message.raw.matchAll(/^Content-Type: (text\/\w+); charset=utf-8$/gm)].map((m) => m[1]);
    expect(types).toEqual(['text/plain', 'text/html']);
    const [head, ...body] = message.raw.split('\r\n\r\n');
    for (const line of head!.split('\r\n')) expect(line.length).toBeLessThanOrEqual(998);
    for (const line of body.join('\r\n\r\n').split('\r\n')) expect(line.length).toBeLessThanOrEqual(76);
    expect(message.raw).not.toMatch(/[^\r]\n|\r[^\n]/);
    expect(message.raw).toMatch(/^[\x00-\x7f]*$/);
  });

  it('gives every recipient their own Message-ID and link, the rest byte for byte the same', () => {
    const other = assembleDigest(compiled, { subscriberId: 8, email: 'other@example.org', values: { UNSUBSCRIBE_URL: `${url}zz` } }, 'Fri, 27 Nov 2026 06:00:00 +0000')!;
    expect(other.messageId).toBe('<digest.e42.s8@papers.example.test>');
    expect(other.raw.toString('latin1').replaceAll('other@example.org', 'X').replaceAll(`${url}zz`, 'U').replace('.s8@', '.s@')).toBe(
      message.raw.replaceAll('reader@example.org', 'X').replaceAll(url, 'U').replace('.s7@', '.s@'),
    );
  });

  it('can be dot-stuffed once per edition for the direct SMTP path', () => {
    const stuffed = compileDigestMime(edition, context, { dotStuffed: true });
    const raw = assembleDigest(stuffed, { subscriberId: 7, email: 'reader@example.org', values: { UNSUBSCRIBE_URL: url } }, 'Fri, 27 Nov 2026 06:00:00 +0000')!.raw.toString('latin1');
    expect(message.raw).toMatch(/\r\n\.leading dot/);
    expect(raw).not.toMatch(/\r\n\.[^.]/);
    expect(raw.replace(/\r\n\./g, '\r\n')).toBe(message.raw);
  });

  it('refuses addresses that cannot go into a header unencoded', () => {
    expect(assembleDigest(compiled, { subscriberId: 9, email: 'bad\r\nBcc: x@y.z', values: { UNSUBSCRIBE_URL: url } })).toBeUndefined();
    expect(assembleDigest(compiled, { subscriberId: 9, email: 'jöe@example.org', values: { UNSUBSCRIBE_URL: url } })).toBeUndefined();
  });

  // Speed is measured by `npm run bench` (assembly µs per message); here, the property that makes it
  // fast: every edition-wide piece is the same Buffer for every recipient, never rebuilt.
  it('reuses the edition-wide pieces by reference and adds only the personal ones', () => {
    const stuffed = compileDigestMime(edition, context, { dotStuffed: true });
    const a = assembleDigestParts(stuffed, { subscriberId: 1, email: 'a@example.org', values: { UNSUBSCRIBE_URL: `${url}1` } }, 'Fri, 27 Nov 2026 06:00:00 +0000')!;
    const b = assembleDigestParts(stuffed, { subscriberId: 2, email: 'b@example.org', values: { UNSUBSCRIBE_URL: `${url}2` } }, 'Fri, 27 Nov 2026 06:00:00 +0000')!;
    expect(a.parts).toHaveLength(b.parts.length);
    const shared = [...stuffed.head, ...stuffed.body];
    for (const piece of shared) {
      expect(a.parts).toContain(piece);
      expect(b.parts).toContain(piece);
    }
    const personalA = a.parts.filter((p) => !shared.includes(p)).map((p) => p.toString('latin1'));
    expect(personalA).toEqual(expect.arrayContaining(['a@example.org', '<digest.e42.s1@papers.example.test>']));
    expect(personalA.every((p) => p.length < 200)).toBe(true);
  });
});

describe('quoted-printable', () => {
  it('keeps lines short, escapes = and trailing whitespace, never splits an escape', () => {
    const encoded = encodeQuotedPrintable(`${'é'.repeat(100)} \nline=two\t\n${'x'.repeat(300)}`);
    for (const line of encoded.split('\r\n')) expect(line.length).toBeLessThanOrEqual(76);
    expect(encoded).toContain('=20\r\n');
    expect(encoded).toContain('line=3Dtwo=09\r\n');
    expect(encoded).not.toMatch(/=[0-9A-F]?=\r\n/);
  });
});
