import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { secretWeakness } from '../../src/secret-strength.ts';

const root = path.join(import.meta.dirname, '../..');
const production = { NODE_ENV: 'production', SMTP_URL: 'smtp://relay.example.com:587', PUBLIC_URL: 'https://papers.example.com' };

describe('secretWeakness', () => {
  it.each([
    ['the old docker-compose fallback', 'change-me-to-64-hex-characters-from-openssl-rand-hex-32-please'],
    ['one repeated character', 'a'.repeat(64)],
    ['repeated hex digits', '0'.repeat(63) + '1'],
    ['whitespace inside', `${randomBytes(16).toString('hex')} ${randomBytes(16).toString('hex')}`],
    ['surrounding whitespace', ` ${randomBytes(32).toString('hex')} `],
    ['a tab', `${randomBytes(32).toString('hex')}\t`],
    ['a dictionary phrase', 'correct-horse-battery-staple-lemon-tree-window-chair'],
    ['words without separators', 'thisisaverylongsequencethatnobodywillguess'],
    ['title-case words and a year', 'ThePurpleElephantDancesAtMidnightInParis2024'],
    ['a repeated pattern', '0123456789abcdef0123456789abcdef'],
    ['a short cycle', 'abc1abc1abc1abc1abc1abc1abc1abc1abc1'],
    ['a keyboard walk', 'qwertyuiopasdfghjklzxcvbnm1234567890'],
    ['a run of letters', 'x9abcdefghijklmnopq7k2m4p8r3s5t6u1v'],
    ['the word secret', 'my-super-secret-value-that-is-long-enough'],
    ['a password', 'Password1Password2Password3Password4'],
    ['too short', randomBytes(15).toString('hex')],
    ['too few characters', '0101101001011010010110100101101001011010'],
    ['few bits for its alphabet', '10293847561029384756102938475610293847'],
  ])('refuses %s', (_name, value) => {
    expect(secretWeakness(value)).toBeTypeOf('string');
  });

  it('accepts what random generators make, every time', () => {
    const rejected: string[] = [];
    for (let i = 0; i < 1500; i++) {
      for (const value of [
        randomBytes(16).toString('hex'),
        randomBytes(32).toString('hex'),
        randomBytes(32).toString('hex').toUpperCase(),
        randomBytes(24).toString('base64'),
        randomBytes(32).toString('base64'),
        randomBytes(32).toString('base64url'),
        randomBytes(48).toString('base64url'),
      ]) {
        const why = secretWeakness(value);
        if (why) rejected.push(`${value}: ${why}`);
      }
    }
    expect(rejected).toEqual([]);
  });
});

/** Every value the repository shows for a secret variable (README, .env.example, compose, docs). */
function documentedValues(): string[] {
  const files = ['README.md', '.env.example', 'docker-compose.yml', 'Dockerfile', ...readdirSync(path.join(root, 'docs')).map((f) => `docs/${f}`)];
  const values: string[] = [];
  for (const file of files) {
    const text = readFileSync(path.join(root, file), 'utf8');
    for (const match of text.matchAll(/\b(?:SECRET|SECRET_PREVIOUS|ADMIN_TOKEN)\s*[:=]\s*["']?([^\s"'`]+)/g)) {
      const value = match[1]!.replace(/^\$\{\w+:[-?]/, '').replace(/\}$/, '');
      if (value.length > 0 && !value.startsWith('$(')) values.push(value);
    }
  }
  return values;
}

describe('production secrets', () => {
  it('refuses every value the repository documents, for each secret variable, saying how to make one', () => {
    const values = [...documentedValues(), 'change-me-to-64-hex-characters-from-openssl-rand-hex-32-please'];
    for (const value of values) {
      for (const name of ['SECRET', 'SECRET_PREVIOUS', 'ADMIN_TOKEN']) {
        const env = { ...production, SECRET: randomBytes(32).toString('hex'), [name]: value };
        let error: unknown;
        try {
          loadConfig(env);
        } catch (caught) {
          error = caught;
        }
        expect(error, `${name}=${value}`).toBeInstanceOf(ConfigError);
        expect((error as Error).message).toContain(name);
        expect((error as Error).message).toContain('openssl rand -hex 32');
      }
    }
  });

  it('accepts random secrets and a random admin token', () => {
    const config = loadConfig({ ...production, SECRET: randomBytes(32).toString('hex'), SECRET_PREVIOUS: randomBytes(32).toString('base64url'), ADMIN_TOKEN: randomBytes(24).toString('base64') });
    expect(config.secret).toHaveLength(64);
  });

  it('keeps development and tests lenient about shape (only the length)', () => {
    expect(loadConfig({ NODE_ENV: 'test', SECRET: 'a'.repeat(32), ADMIN_TOKEN: 'test-admin-token-1234' }).secret).toBe('a'.repeat(32));
  });
});
