import { randomBytes } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { parseRateList } from '../../src/config/rate-list.ts';
import { parseTrustProxy } from '../../src/config/trust-proxy.ts';
import { verificationSecrets } from '../../src/config/secrets.ts';
import { isAdminAuthorized } from '../../src/http/admin-auth.ts';
import { isSameOriginRequest } from '../../src/http/same-origin.ts';
import { suppressionHash } from '../../src/subscribers/suppression.repository.ts';
import { checkFormToken, createFormToken } from '../../src/subscribers/tokens.ts';


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
