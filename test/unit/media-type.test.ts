import { describe, expect, it } from 'vitest';
import { parseTrustProxy } from '../../src/config/trust-proxy.ts';
import { cleanForwardedFor } from '../../src/http/http-server.ts';
import { acceptWeight, isJsonMediaType, mediaTypeOf, prefersHtml, prefersJson } from '../../src/http/media-type.ts';

describe('media types', () => {
  it('matches type and subtype case-insensitively and ignores parameters and whitespace', () => {
    expect(mediaTypeOf('Application/JSON; charset=UTF-8')).toBe('application/json');
    expect(mediaTypeOf('  text/HTML ;q=1')).toBe('text/html');
    expect(mediaTypeOf('json')).toBe('');
    expect(mediaTypeOf(undefined)).toBe('');
    expect(isJsonMediaType('APPLICATION/JSON')).toBe(true);
    expect(isJsonMediaType('application/problem+json')).toBe(true);
    expect(isJsonMediaType('application/jsonp')).toBe(false);
    expect(isJsonMediaType('text/json-ish')).toBe(false);
  });

  it('weighs Accept ranges with q', () => {
    expect(acceptWeight('text/html;q=0.5, application/json', 'text/html')).toBe(0.5);
    expect(prefersHtml('text/html,application/xhtml+xml,*/*;q=0.8')).toBe(true);
    expect(prefersHtml('TEXT/HTML')).toBe(true);
    expect(prefersHtml('application/json')).toBe(false);
    expect(prefersJson('Application/JSON')).toBe(true);
    expect(prefersJson('application/json;q=0.5, text/html')).toBe(false);
    expect(prefersJson('application/json;q=0')).toBe(false);
  });
});

describe('proxy settings', () => {
  it('parses hop counts and address lists, and refuses anything else', () => {
    expect(parseTrustProxy('false')).toBe(false);
    expect(parseTrustProxy('2')).toBe(2);
    expect(parseTrustProxy('10.0.0.0/8, 127.0.0.1,::1, fd00::/8, loopback')).toEqual(['10.0.0.0/8', '127.0.0.1', '::1', 'fd00::/8', 'loopback']);
    for (const bad of ['yes', '10.0.0.0/33', 'proxy.example.com', '10.0.0.1/8/8', '*']) expect(parseTrustProxy(bad), bad).toBeUndefined();
  });

  it('keeps only the X-Forwarded-For entries that are addresses', () => {
    expect(cleanForwardedFor('not-an-ip, 198.51.100.7 , ::1,1.2.3.4:80,unknown')).toBe('198.51.100.7, ::1');
    expect(cleanForwardedFor('garbage')).toBeUndefined();
  });
});
