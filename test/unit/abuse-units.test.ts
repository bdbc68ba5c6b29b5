import { randomBytes } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseRateList, parseTrustProxy, verificationSecrets } from '../../src/config.ts';
import { isAdminAuthorized } from '../../src/http/admin-auth.ts';
import { isSameOriginRequest } from '../../src/http/same-origin.ts';
import { normaliseEmailAddress } from '../../src/subscribers/email-address.ts';
import { suppressionHash } from '../../src/subscribers/suppression.repository.ts';
import {
  CONFIRMATION_TOKEN_SHAPE,
  checkFormToken,
  createFormToken,
  createSubscriberToken,
  generateConfirmationToken,
  hashToken,
  verifySubscriberToken,
} from '../../src/subscribers/tokens.ts';

const a = (n: number, c = 'a') => c.repeat(n);

describe('normaliseEmailAddress: one bare address', () => {
  it.each([
    ['Alice@Example.COM', 'Alice@example.com'],
    [' \t bob@example.com \u00a0', 'bob@example.com'],
    ['user+news@example.com', 'user+news@example.com'],
    ['user@bücher.de', 'user@xn--bcher-kva.de'],
    ['user@Bücher.DE', 'user@xn--bcher-kva.de'],
    ['user@xn--bcher-kva.de', 'user@xn--bcher-kva.de'],
    ['user@g\u043e\u043egle.com', 'user@xn--ggle-55da.com'],
    [`${a(64)}@example.com`, `${a(64)}@example.com`],
    [`${a(64)}@${a(63, 'b')}.${a(63, 'c')}.${a(58, 'd')}.io`, `${a(64)}@${a(63, 'b')}.${a(63, 'c')}.${a(58, 'd')}.io`],
    [`x@${a(63)}.com`, `x@${a(63)}.com`],
    ["o'brien@example.ie", "o'brien@example.ie"],
  ])('accepts %j as %j', (input, stored) => {
    expect(normaliseEmailAddress(input)).toEqual({ ok: true, address: stored });
  });

  it.each([
    '', '   ', 'bob\u200b@example.com', '\ufeffbob@example.com', 'bob@example.com\u202e', 'bob\u2060@example.com',
    'victim@example.com\r\nBcc: x@evil.test', 'victim@example.com\nBcc:x@evil.test', 'a\u0000@b.com', 'a\u0085@b.com',
    'victim@example.com, attacker@evil.test', 'victim@example.com;attacker@evil.test', 'Eve <eve@example.com>', '<eve@example.com>',
    '"john doe"@example.com', '"x"@example.com', 'user@example.com (c)', '(c)user@example.com', 'user@[127.0.0.1]', 'user@[IPv6:::1]',
    'user@127.0.0.1', 'john..doe@example.com', '.john@example.com', 'john.@example.com', 'user@example', 'user@localhost',
    'user@-example.com', 'user@example-.com', 'user@exa_mple.com', 'user@example..com', 'user@.example.com',
    `${a(65)}@example.com`, `${a(64)}@${a(63, 'b')}.${a(63, 'c')}.${a(59, 'd')}.io`, `x@${a(64)}.com`,
    'A@B@c.com', '用户@example.com', 'ｕｓｅｒ@example.com', 'user＠example.com', 'user@', '@example.com', 'user',
    '<script>@example.com', 'a b@example.com', 'user@exam ple.com', 'user@example.com\u2028', a(10_000),
  ])('refuses %j', (input) => {
    expect(normaliseEmailAddress(input).ok).toBe(false);
  });
});

describe('confirmation tokens', () => {
  it('are 256 random bits, base64url, distinct, and stored as sha256', () => {
    const tokens = Array.from({ length: 200 }, generateConfirmationToken);
    expect(new Set(tokens).size).toBe(200);
    for (const token of tokens) {
      expect(token).toMatch(CONFIRMATION_TOKEN_SHAPE);
      expect(Buffer.from(token, 'base64url')).toHaveLength(32);
      expect(hashToken(token)).toHaveLength(32);
    }
  });
});

describe('subscriber link tokens', () => {
  const secret = randomBytes(32).toString('hex');
  const old = randomBytes(32).toString('hex');

  it('round-trip, never contain the address, and are bound to their purpose', () => {
    const token = createSubscriberToken(secret, 'unsubscribe', 12345, 3);
    expect(token).not.toMatch(/@|%40/);
    expect(verifySubscriberToken(secret, 'unsubscribe', token)).toEqual({ subscriberId: 12345, version: 3 });
    expect(verifySubscriberToken(secret, 'preferences', token)).toBeUndefined();
    const prefs = createSubscriberToken(secret, 'preferences', 12345, 3);
    expect(prefs).not.toBe(token);
    expect(verifySubscriberToken(secret, 'preferences', prefs)).toEqual({ subscriberId: 12345, version: 3 });
  });

  it('accept the previous secret during a rotation, and nothing else', () => {
    const signedWithOld = createSubscriberToken(old, 'unsubscribe', 7, 1);
    expect(verifySubscriberToken([secret, old], 'unsubscribe', signedWithOld)).toEqual({ subscriberId: 7, version: 1 });
    expect(verifySubscriberToken([secret], 'unsubscribe', signedWithOld)).toBeUndefined();
    expect(verifySubscriberToken([secret, old], 'unsubscribe', createSubscriberToken(randomBytes(32).toString('hex'), 'unsubscribe', 7, 1))).toBeUndefined();
  });

  it('refuse every alteration: each character, truncation, extension and non-canonical spellings', () => {
    const token = createSubscriberToken(secret, 'unsubscribe', 987654, 2);
    for (let i = 0; i < token.length; i++) {
      for (const c of ['0', 'a', 'Z', '-', '_']) {
        const altered = token.slice(0, i) + c + token.slice(i + 1);
        if (altered !== token) expect(verifySubscriberToken(secret, 'unsubscribe', altered), altered).toBeUndefined();
      }
    }
    for (const bad of [token.slice(0, -1), `${token}A`, `0${token}`, token.toUpperCase(), token.replace('.2.', '.02.'), '', '..', `${token}.x`, a(5000)]) {
      expect(verifySubscriberToken(secret, 'unsubscribe', bad), bad).toBeUndefined();
    }
  });
});

describe('form time trap token', () => {
  const secret = randomBytes(32).toString('hex');
  const limits = { minFillMs: 2000, maxAgeMs: 24 * 3600 * 1000 };
  const now = Date.now();

  it('passes after the minimum fill time and within the maximum age', () => {
    expect(checkFormToken(secret, createFormToken(secret, now - 5000), limits, now)).toBe('ok');
    expect(checkFormToken(secret, createFormToken(secret, now - 500), limits, now)).toBe('too_fast');
    expect(checkFormToken(secret, createFormToken(secret, now - 25 * 3600 * 1000), limits, now)).toBe('too_old');
    expect(checkFormToken(secret, createFormToken(secret, now + 60_000), limits, now)).toBe('too_fast');
  });

  it('refuses tampering, foreign secrets and junk, and accepts the previous secret', () => {
    const token = createFormToken(secret, now - 500);
    const [, sig] = token.split('.');
    expect(checkFormToken(secret, `${(now - 60_000).toString(36)}.${sig}`, limits, now)).toBe('invalid');
    expect(checkFormToken(secret, createFormToken('another-secret-another-secret-123', now - 5000), limits, now)).toBe('invalid');
    for (const junk of [undefined, null, 42, '', 'x.y', `${token}x`, token.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'))]) {
      expect(checkFormToken(secret, junk, limits, now)).toBe('invalid');
    }
    const old = randomBytes(32).toString('hex');
    expect(checkFormToken([secret, old], createFormToken(old, now - 5000), limits, now)).toBe('ok');
  });
});

describe('admin bearer check', () => {
  const token = 'admin-token-0123456789abcdef';
  it.each([
    [`Bearer ${token}`, true],
    [`bearer ${token}`, true],
    [`Bearer  ${token} `, true],
    [undefined, false],
    ['', false],
    ['Bearer', false],
    [`Bearer ${token}x`, false],
    [`Bearer ${token.slice(0, -1)}`, false],
    [`Bearer ${token.toUpperCase()}`, false],
    [`Basic ${token}`, false],
    [token, false],
    [`Bearer ${token} extra`, false],
  ])('%j → %s', (header, expected) => {
    expect(isAdminAuthorized(header, token)).toBe(expected);
  });
  it('refuses everything when no admin token is configured', () => {
    expect(isAdminAuthorized('Bearer anything-at-all-here', undefined)).toBe(false);
    expect(isAdminAuthorized('Bearer ', '')).toBe(false);
  });
});

describe('same-origin check for form posts', () => {
  // What Fastify gives a route: the headers, and the host and scheme the request reached us with.
  const req = (headers: Record<string, string>) => ({ headers: { host: '127.0.0.1:3000', ...headers }, host: headers.host ?? '127.0.0.1:3000', protocol: 'http' }) as unknown as FastifyRequest;
  const publicUrl = 'https://papers.example.com';
  it.each([
    [{}, true],
    [{ 'sec-fetch-site': 'same-origin' }, true],
    [{ 'sec-fetch-site': 'none' }, true],
    [{ origin: 'https://papers.example.com' }, true],
    [{ origin: 'http://127.0.0.1:3000' }, true],
    [{ origin: 'null', 'sec-fetch-site': 'same-origin' }, true],
    [{ 'sec-fetch-site': 'cross-site' }, false],
    [{ 'sec-fetch-site': 'same-site' }, false],
    [{ origin: 'null' }, false],
    [{ origin: 'https://evil.example' }, false],
    [{ origin: 'https://papers.example.com.evil.example' }, false],
    [{ origin: 'http://papers.example.com' }, false],
    [{ origin: 'https://127.0.0.1:3000' }, false],
    [{ origin: 'http://127.0.0.1:3001' }, false],
    [{ origin: 'http://papers.example.com', host: 'papers.example.com' }, false],
    [{ origin: 'https://papers.example.com:8443' }, false],
    [{ origin: 'not a url' }, false],
  ])('%o → %s', (headers, expected) => {
    expect(isSameOriginRequest(req(headers), publicUrl)).toBe(expected);
  });
});

describe('configuration', () => {
  it('parses rate lists and proxy trust', () => {
    expect(parseRateList('5/1m,30/1d')).toEqual([{ max: 5, windowMs: 60_000 }, { max: 30, windowMs: 86_400_000 }]);
    expect(parseRateList('10/s')).toEqual([{ max: 10, windowMs: 1000 }]);
    for (const bad of ['', '5', '5/1w', '0/1m', 'x/1m', ',']) expect(parseRateList(bad), bad).toBeUndefined();
    expect(parseTrustProxy('false')).toBe(false);
    expect(parseTrustProxy('true')).toBe(true);
    expect(parseTrustProxy('2')).toBe(2);
    expect(parseTrustProxy('10.0.0.0/8, 127.0.0.1')).toEqual(['10.0.0.0/8', '127.0.0.1']);
  });

  it('has working defaults and names a bad variable', () => {
    const config = loadConfig({});
    expect(config.rateLimits.subscribeIp).toEqual([{ max: 5, windowMs: 60_000 }, { max: 30, windowMs: 86_400_000 }]);
    expect(config.rateLimits.oneClickIp[0]!.max).toBeGreaterThanOrEqual(300);
    expect(config.form).toEqual({ minFillMs: 2000, maxAgeMs: 86_400_000 });
    expect(config.trustProxy).toBe(false);
    expect(() => loadConfig({ RATE_LIMIT_SUBSCRIBE_IP: 'lots' })).toThrow(/RATE_LIMIT_SUBSCRIBE_IP/);
    expect(() => loadConfig({ SECRET_PREVIOUS: 'short' })).toThrow(ConfigError);
  });
});

describe('secret rotation grace period', () => {
  const current = 'c'.repeat(32);
  const previous = 'p'.repeat(32);
  it('accepts SECRET_PREVIOUS until SECRET_PREVIOUS_UNTIL, then only SECRET', () => {
    const config = loadConfig({ SECRET: current, SECRET_PREVIOUS: previous, SECRET_PREVIOUS_UNTIL: '2030-01-01T00:00:00Z' });
    expect(verificationSecrets(config, Date.parse('2029-12-31T23:59:59Z'))).toEqual([current, previous]);
    expect(verificationSecrets(config, Date.parse('2030-01-01T00:00:00Z'))).toEqual([current]);
    expect(verificationSecrets(loadConfig({ SECRET: current, SECRET_PREVIOUS: previous }))).toEqual([current, previous]);
    expect(verificationSecrets(loadConfig({ SECRET: current }))).toEqual([current]);
    expect(() => loadConfig({ SECRET: current, SECRET_PREVIOUS: previous, SECRET_PREVIOUS_UNTIL: 'next week' })).toThrow(/SECRET_PREVIOUS_UNTIL/);
  });
});

describe('suppression hash', () => {
  it('matches an address whatever its case, and reads back as nothing', () => {
    expect(suppressionHash('Alice@Example.com')).toEqual(suppressionHash('alice@example.com'));
    expect(suppressionHash('alice@example.com')).not.toEqual(suppressionHash('alice2@example.com'));
    expect(suppressionHash('alice@example.com').toString('latin1')).not.toContain('alice');
  });
});
