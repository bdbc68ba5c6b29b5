import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSubscriberToken, generateConfirmationToken, hashToken, verifySubscriberToken, CONFIRMATION_TOKEN_SHAPE } from '../../src/subscribers/tokens.ts';

const SECRET = randomBytes(32).toString('hex');

describe('confirmation tokens', () => {
  it('are 256 random bits, base64url, distinct, and only their sha256 is stored', () => {
    const tokens = Array.from({ length: 1000 }, generateConfirmationToken);
    expect(new Set(tokens).size).toBe(1000);
    for (const token of tokens) {
      expect(token).toMatch(CONFIRMATION_TOKEN_SHAPE);
      expect(Buffer.from(token, 'base64url')).toHaveLength(32);
      expect(hashToken(token)).toHaveLength(32);
    }
    const token = tokens[0]!;
    expect(hashToken(token).equals(hashToken(token))).toBe(true);
    expect(hashToken(token).toString('base64url')).not.toBe(token);
  });
});

describe('subscriber link tokens', () => {
  const token = createSubscriberToken(SECRET, 'unsubscribe', 12345, 1);

  it('round-trip, never contain the address, and are bound to their purpose', () => {
    expect(verifySubscriberToken(SECRET, 'unsubscribe', token)).toEqual({ subscriberId: 12345, version: 1 });
    expect(token).not.toMatch(/@|%40/);
    expect(verifySubscriberToken(SECRET, 'preferences', token)).toBeUndefined();
    const prefs = createSubscriberToken(SECRET, 'preferences', 12345, 1);
    expect(prefs).not.toBe(token);
    expect(verifySubscriberToken(SECRET, 'preferences', prefs)).toEqual({ subscriberId: 12345, version: 1 });
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

  it('reject truncation, extension, another secret, non-canonical spellings and junk', () => {
    const v2 = createSubscriberToken(SECRET, 'unsubscribe', 987654, 2);
    for (const bad of [token.slice(0, -1), `${token}A`, `0${token}`, token.toUpperCase(), v2.replace('.2.', '.02.'), `${token}.x`]) {
      expect(verifySubscriberToken(SECRET, 'unsubscribe', bad), bad).toBeUndefined();
    }
    expect(verifySubscriberToken(randomBytes(32).toString('hex'), 'unsubscribe', token)).toBeUndefined();
    for (const junk of ['', '.', '..', 'a.b.c', "1.1.' or 1=1 --", '%00', 'x'.repeat(5000)]) {
      expect(verifySubscriberToken(SECRET, 'unsubscribe', junk)).toBeUndefined();
    }
  });

  it('accept the previous secret during a rotation, and nothing else', () => {
    const old = randomBytes(32).toString('hex');
    const signedWithOld = createSubscriberToken(old, 'unsubscribe', 7, 1);
    expect(verifySubscriberToken([SECRET, old], 'unsubscribe', signedWithOld)).toEqual({ subscriberId: 7, version: 1 });
    expect(verifySubscriberToken([SECRET], 'unsubscribe', signedWithOld)).toBeUndefined();
    expect(verifySubscriberToken([SECRET, old], 'unsubscribe', createSubscriberToken(randomBytes(32).toString('hex'), 'unsubscribe', 7, 1))).toBeUndefined();
  });

  it('bind the version, so bumping it revokes older links', () => {
    const v2 = createSubscriberToken(SECRET, 'unsubscribe', 12345, 2);
    expect(v2).not.toBe(token);
    expect(verifySubscriberToken(SECRET, 'unsubscribe', v2)?.version).toBe(2);
  });
});
