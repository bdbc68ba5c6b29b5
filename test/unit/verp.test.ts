import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { base32, fromBase32, parseVerpAddress, unsubscribeMailto, verpAddress, verpReference } from '../../src/delivery/verp.ts';

const settings = { local: 'bounces', domain: 'bounce.news.example.org', secrets: ['s'.repeat(32)] };

describe('VERP return path', () => {
  it('round-trips any delivery id, for both purposes, whatever the case an MTA gives it', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), fc.constantFrom('bounce' as const, 'unsubscribe' as const), fc.boolean(), (id, purpose, upper) => {
        const address = verpAddress(settings, purpose, id);
        expect(address).toMatch(/^bounces\+[bu][a-z2-7]{15,24}@bounce\.news\.example\.org$/);
        expect(address.length).toBeLessThanOrEqual(64);
        expect(parseVerpAddress(settings, upper ? address.toUpperCase() : address)).toEqual({ ok: true, purpose, deliveryId: id });
      }),
    );
  });

  it('is short: a delivery id in the millions makes a 19-character reference', () => {
    expect(verpReference(settings, 'bounce', 12_345_678)).toHaveLength(19);
  });

  it('refuses forged, altered, truncated, other-purpose and foreign addresses', () => {
    const address = verpAddress(settings, 'bounce', 4242);
    const [local, domain] = address.split('@') as [string, string];
    const reference = local.slice('bounces+'.length);
    const flip = (i: number) => reference.slice(0, i) + (reference[i] === 'a' ? 'b' : 'a') + reference.slice(i + 1);
    for (let i = 1; i < reference.length; i++) expect(parseVerpAddress(settings, `bounces+${flip(i)}@${domain}`).ok).toBe(false);
    expect(parseVerpAddress(settings, `bounces+u${reference.slice(1)}@${domain}`)).toEqual({ ok: false, reason: 'forged' });
    expect(parseVerpAddress(settings, `bounces+${reference.slice(0, -1)}@${domain}`)).toMatchObject({ ok: false });
    expect(parseVerpAddress(settings, `${local}@other.example.org`)).toEqual({ ok: false, reason: 'foreign' });
    expect(parseVerpAddress(settings, `postmaster@${domain}`)).toEqual({ ok: false, reason: 'foreign' });
    expect(parseVerpAddress(settings, `bounces+x${reference.slice(1)}@${domain}`)).toEqual({ ok: false, reason: 'malformed' });
    expect(parseVerpAddress(settings, `bounces+b0000000000000000@${domain}`)).toEqual({ ok: false, reason: 'malformed' });
    expect(parseVerpAddress({ ...settings, secrets: ['t'.repeat(32)] }, address)).toEqual({ ok: false, reason: 'forged' });
  });

  it('still verifies references signed with the previous secret during a rotation', () => {
    const address = verpAddress(settings, 'unsubscribe', 77);
    expect(parseVerpAddress({ ...settings, secrets: ['n'.repeat(32), settings.secrets[0]!] }, address)).toEqual({ ok: true, purpose: 'unsubscribe', deliveryId: 77 });
  });

  it('builds the mailto: URI for List-Unsubscribe', () => {
    expect(unsubscribeMailto(settings, 5)).toMatch(/^mailto:bounces\+u[a-z2-7]+@bounce\.news\.example\.org\?subject=unsubscribe$/);
  });

  it('base32 is RFC 4648 (lower case, no padding) and decodes only canonical text', () => {
    expect(base32(Buffer.from('foobar'))).toBe('mzxw6ytboi');
    expect(fromBase32('MZXW6YTBOI')!.toString()).toBe('foobar');
    expect(fromBase32('mzxw6ytboj')).toBeUndefined();
    expect(fromBase32('mzxw1')).toBeUndefined();
  });
});
