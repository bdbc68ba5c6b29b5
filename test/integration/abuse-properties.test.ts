import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { domainToASCII } from 'node:url';
import { createSubscriberToken } from '../../src/subscribers/tokens.ts';
import { startTestService, type TestService } from '../helpers/service.ts';

/**
 * Property-based: whatever the input, subscribe and the token endpoints answer 2xx or 4xx (never
 * 5xx), random tokens change nothing, and the database only ever holds valid rows.
 */

const RUNS = 120;

/**
 * The oracle: a second, deliberately plain statement of the README's address rule (one bare
 * local@domain; 64/254 octets; dot-atom ASCII local part; a domain of at least two DNS labels, in
 * punycode, with a non-numeric top label; no controls or invisible characters; surrounding ASCII
 * whitespace and NBSP ignored), written without the implementation's code.
 */
function oracleAccepts(input: string): boolean {
  let s = input;
  const space = ' \t\r\n\f\v\u00a0';
  while (s.length > 0 && space.includes(s[0]!)) s = s.slice(1);
  while (s.length > 0 && space.includes(s.at(-1)!)) s = s.slice(0, -1);
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || (c >= 0x200b && c <= 0x200f) || (c >= 0x202a && c <= 0x202e) || (c >= 0x2060 && c <= 0x2064) || c === 0xfeff) return false;
  }
  const pieces = s.split('@');
  if (pieces.length !== 2) return false;
  const [local, domain] = pieces as [string, string];
  if (local.length === 0 || local.length > 64) return false;
  const atext = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+/=?^_`{|}~-";
  const words = local.split('.');
  if (words.some((w) => w.length === 0 || [...w].some((ch) => !atext.includes(ch)))) return false;
  if (/[\s,;<>()"\[\]\\]/.test(domain)) return false;
  const ascii = domain.length > 0 ? domainToASCII(domain.toLowerCase()) : '';
  if (ascii.length === 0 || ascii.length > 253) return false;
  const labels = ascii.split('.');
  if (labels.length < 2) return false;
  for (const label of labels) {
    if (label.length < 1 || label.length > 63 || label.startsWith('-') || label.endsWith('-')) return false;
    if ([...label].some((ch) => !'abcdefghijklmnopqrstuvwxyz0123456789-'.includes(ch))) return false;
  }
  if ([...labels.at(-1)!].every((ch) => ch >= '0' && ch <= '9')) return false;
  return local.length + 1 + ascii.length <= 254;
}
const junk = fc.constantFrom('\r\n', '\n', '\r', ',', ';', ' ', '<', '>', '"', "'", '\u200b', '\ufeff', '\u0000', '@', '(', ')', '[', ']', '\\', '%0d%0a', 'Bcc: x@evil.test', '..', '.', '\u202e', 'ｘ', 'о');
const emailLike = fc.oneof(
  fc.emailAddress(),
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.string({ unit: 'grapheme', maxLength: 80 }),
  fc.tuple(fc.emailAddress(), junk, fc.emailAddress()).map(([a, j, b]) => `${a}${j}${b}`),
  fc.tuple(fc.emailAddress(), junk, fc.nat()).map(([a, j, n]) => {
    const at = Math.min(n, a.length);
    return `${a.slice(0, at)}${j}${a.slice(at)}`;
  }),
  fc.emailAddress().map((a) => a.toUpperCase()),
);

describe('property-based: subscribe and token endpoints', () => {
  let t: TestService;
  let activeIds: { id: number; token_version: number }[];
  beforeAll(async () => {
    t = await startTestService();
    activeIds = await t.service.db
      .insertInto('subscribers')
      .values(Array.from({ length: 3 }, (_, i) => ({ email: `prop-active-${i}@example.org`, status: 'active' as const })))
      .returning(['id', 'token_version'])
      .execute();
  });
  afterAll(async () => t?.stop());

  const snapshot = async () =>
    JSON.stringify(
      await Promise.all([
        t.service.db.selectFrom('subscribers').select(['id', 'email', 'status', 'token_version', 'updated_at']).orderBy('id').execute(),
        t.service.db.selectFrom('suppressions').selectAll().execute(),
        t.service.db.selectFrom('confirmation_tokens').select(['id', 'used_at']).orderBy('id').execute(),
      ]),
    );

  it('subscribe answers 2xx or 4xx to any address, form or JSON', async () => {
    await fc.assert(
      fc.asyncProperty(emailLike, fc.boolean(), fc.option(fc.string({ maxLength: 120 })), async (email, json, topics) => {
        const fields: Record<string, string> = { email };
        if (topics !== null) fields.topics = topics;
        const res = await fetch(`${t.baseUrl}/subscribe`, {
          method: 'POST',
          headers: { 'content-type': json ? 'application/json' : 'application/x-www-form-urlencoded' },
          body: json ? JSON.stringify(fields) : new URLSearchParams(fields).toString(),
        });
        const text = await res.text();
        const accepted = oracleAccepts(email);
        // A valid address with topics the reader cannot have (src/subscribers/topics.ts) is
        // refused too, with a message about the topics, never the address.
        const topicsRefused = accepted && res.status === 400 && /Topics: /.test(text);
        expect(res.status, JSON.stringify([email, topics])).toBe(accepted && !topicsRefused ? (json ? 202 : 200) : 400);
        if (topicsRefused) expect(topics, JSON.stringify(email)).not.toBeNull();
      }),
      { numRuns: RUNS },
    );
  });

  it('subscribe answers 2xx or 4xx to any JSON body', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue({ maxDepth: 3 }), async (value) => {
        const res = await fetch(`${t.baseUrl}/subscribe`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(value) });
        await res.arrayBuffer();
        expect(res.status).toBeGreaterThanOrEqual(200);
        expect(res.status).toBeLessThan(500);
      }),
      { numRuns: RUNS },
    );
  });

  it('random tokens get a 4xx on every token endpoint and change nothing', async () => {
    const endpoints = [
      ['GET', (k: string) => `/confirm/${k}`],
      ['POST', (k: string) => `/confirm/${k}`],
      ['GET', (k: string) => `/u/${k}`],
      ['POST', (k: string) => `/u/${k}`],
      ['POST', (k: string) => `/u/${k}/resubscribe`],
      ['GET', (k: string) => `/p/${k}`],
      ['POST', (k: string) => `/p/${k}/data-link`],
      ['GET', (k: string) => `/data/${k}`],
      ['POST', (k: string) => `/data/${k}/export`],
      ['POST', (k: string) => `/data/${k}/erase`],
    ] as const;
    const token = fc.oneof(
      fc.string({ unit: 'binary', minLength: 1, maxLength: 300 }),
      fc.base64String({ minLength: 40, maxLength: 46 }).map((s) => s.replace(/\+/g, '-').replace(/\//g, '_').replace(/=/g, '')),
      fc.tuple(fc.nat({ max: 5000 }), fc.nat({ max: 9 }), fc.base64String({ minLength: 24, maxLength: 24 })).map(([id, v, sig]) => `${id.toString(36)}.${v.toString(36)}.${sig.replace(/\+/g, '-').replace(/\//g, '_')}`),
    );
    const before = await snapshot();
    await fc.assert(
      fc.asyncProperty(token, fc.constantFrom(...endpoints), async (raw, [method, path]) => {
        const res = await fetch(`${t.baseUrl}${path(encodeURIComponent(raw))}`, { method, redirect: 'manual' });
        await res.arrayBuffer();
        expect(res.status, `${method} ${raw}`).toBeGreaterThanOrEqual(400);
        expect(res.status, `${method} ${raw}`).toBeLessThan(500);
      }),
      { numRuns: RUNS * 2 },
    );
    expect(await snapshot()).toBe(before);
  });

  it('any alteration of a valid unsubscribe token is refused and changes nothing', async () => {
    const { id, token_version } = activeIds[0]!;
    const valid = createSubscriberToken(t.config.secret, 'unsubscribe', id, token_version);
    const alphabet = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_.';
    const before = await snapshot();
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: valid.length - 1 }), fc.constantFrom(...alphabet), fc.constantFrom('replace', 'delete', 'insert'), async (at, char, op) => {
        const altered = op === 'replace' ? valid.slice(0, at) + char + valid.slice(at + 1) : op === 'delete' ? valid.slice(0, at) + valid.slice(at + 1) : valid.slice(0, at) + char + valid.slice(at);
        fc.pre(altered !== valid);
        const res = await fetch(`${t.baseUrl}/u/${encodeURIComponent(altered)}`, { method: 'POST', body: 'List-Unsubscribe=One-Click', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
        await res.arrayBuffer();
        expect(res.status, altered).toBe(404);
      }),
      { numRuns: RUNS * 2 },
    );
    expect(await snapshot()).toBe(before);
  });

  it('leaves only valid rows in the database', async () => {
    const rows = await t.service.db.selectFrom('subscribers').selectAll().execute();
    expect(rows.length).toBeGreaterThan(3);
    for (const row of rows) {
      // Stored rows are valid by the oracle, and already normal: domain lower-case and in punycode.
      expect(oracleAccepts(row.email), row.email).toBe(true);
      const domain = row.email.slice(row.email.lastIndexOf('@') + 1);
      expect(domain, row.email).toBe(domainToASCII(domain.toLowerCase()));
      expect(row.email, row.email).toBe(row.email.trim());
      expect(Buffer.byteLength(row.email)).toBeLessThanOrEqual(254);
      expect(['pending', 'active', 'unsubscribed', 'bounced', 'complained']).toContain(row.status);
      expect(row.topics.length).toBeLessThanOrEqual(20);
      expect(row.topics.every((topic) => topic.length > 0 && topic.length <= 100 && topic === topic.trim())).toBe(true);
    }
    const tokens = await t.service.db.selectFrom('confirmation_tokens').select(['token_hash']).execute();
    expect(tokens.every((k) => k.token_hash.length === 32)).toBe(true);
  });
});
