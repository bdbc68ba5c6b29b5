import { describe, expect, it } from 'vitest';
import { createSubscriberToken, generateConfirmationToken, hashToken, verifySubscriberToken, CONFIRMATION_TOKEN_SHAPE } from '../../src/subscribers/tokens.ts';

const SECRET = 'x'.repeat(64);

describe('confirmation tokens', () => {
  it('are 256-bit random and distinct, and only their hash is stored', () => {
    const tokens = new Set(Array.from({ length: 1000 }, generateConfirmationToken));
    expect(tokens.size).toBe(1000);
    const token = [...tokens][0]!;
    expect(token).toMatch(CONFIRMATION_TOKEN_SHAPE);
    expect(Buffer.from(token, 'base64url')).toHaveLength(32);
    expect(hashToken(token)).toHaveLength(32);
    expect(hashToken(token).equals(hashToken(token))).toBe(true);
    expect(hashToken(token).toString('base64url')).not.toBe(token);
  });
});

describe('subscriber link tokens', () => {
  const token = createSubscriberToken(SECRET, 'unsubscribe', 12345, 1);

  it('round-trip and never contain an address', () => {
    expect(verifySubscriberToken(SECRET, 'unsubscribe', token)).toEqual({ subscriberId: 12345, version: 1 });
    expect(token).not.toMatch(/@|%40/);
  });

  it('reject every single-character alteration', () => {
    const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.';
    for (let i = 0; i < token.length; i++) {
      for (const c of alphabet) {
        if (c === token[i]) continue;
        const altered = token.slice(0, i) + c + token.slice(i + 1);
        expect(verifySubscriberToken(SECRET, 'unsubscribe', altered), altered).toBeUndefined();
      }
    }
  });

  it('reject truncation, another secret, a non-canonical id and junk', () => {
    expect(verifySubscriberToken(SECRET, 'unsubscribe', token.slice(0, -1))).toBeUndefined();
    expect(verifySubscriberToken('y'.repeat(64), 'unsubscribe', token)).toBeUndefined();
    expect(verifySubscriberToken(SECRET, 'unsubscribe', `0${token}`)).toBeUndefined();
    for (const junk of ['', '.', '..', 'a.b.c', "1.1.' or 1=1 --", '%00', 'x'.repeat(500)]) {
      expect(verifySubscriberToken(SECRET, 'unsubscribe', junk)).toBeUndefined();
    }
  });

  it('bind the version, so bumping it revokes older links', () => {
    const v2 = createSubscriberToken(SECRET, 'unsubscribe', 12345, 2);
    expect(v2).not.toBe(token);
    expect(verifySubscriberToken(SECRET, 'unsubscribe', v2)?.version).toBe(2);
  });
});
