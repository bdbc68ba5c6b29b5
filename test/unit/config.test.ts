import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';

describe('loadConfig', () => {
  it('accepts .env.example as shipped', () => {
    const env = parseEnv(readFileSync(path.join(import.meta.dirname, '../../.env.example'), 'utf8'));
    const config = loadConfig(env);
    expect(config.publicUrl).toBe('http://localhost:3000');
    expect(config.smtpUrl).toBeUndefined();
    expect(config.listId).toBe('digest.localhost');
  });

  it('has single-machine defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ port: 3000, host: '127.0.0.1', digestHour: 8, digestTimeZone: 'UTC', mailFrom: { name: 'Paperboy', address: 'digest@localhost' } });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('schedules the digest at DIGEST_HOUR unless DIGEST_CRON says otherwise; catches up 12 hours late at most, never in tests unless asked', () => {
    expect(loadConfig({ DIGEST_HOUR: '7' })).toMatchObject({ digestCron: '0 0 7 * * *', digestCatchUpMs: 12 * 3_600_000, scheduleCheckMs: 60_000 });
    expect(loadConfig({ DIGEST_HOUR: '7', DIGEST_CRON: '30 6 * * 1-5' }).digestCron).toBe('30 6 * * 1-5');
    // Without either, readers get their digest at their own hour only (no fixed daily send).
    expect(loadConfig({})).toMatchObject({ fixedDigestSchedule: false, digestHour: 8 });
    expect(loadConfig({ DIGEST_HOUR: '7' }).fixedDigestSchedule).toBe(true);
    expect(loadConfig({ DIGEST_CRON: '30 6 * * 1-5' }).fixedDigestSchedule).toBe(true);
    expect(loadConfig({ NODE_ENV: 'test' }).digestCatchUpMs).toBe(0);
    expect(loadConfig({ NODE_ENV: 'test', DIGEST_CATCH_UP_HOURS: '2', SCHEDULE_CHECK_SECONDS: '1' })).toMatchObject({ digestCatchUpMs: 7_200_000, scheduleCheckMs: 1000 });
    for (const bad of ['every morning', '61 * * * *', '0 8 * *', '0 25 * * *']) expect(() => loadConfig({ DIGEST_CRON: bad }), bad).toThrow(/DIGEST_CRON/);
    expect(() => loadConfig({ DIGEST_CATCH_UP_HOURS: '25' })).toThrow(/DIGEST_CATCH_UP_HOURS/);
  });

  it('names every bad variable', () => {
    try {
      loadConfig({ PORT: 'eighty', DIGEST_TZ: 'Mars/Olympus', DATABASE_URL: 'not a url' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const message = (error as Error).message;
      for (const name of ['PORT', 'DIGEST_TZ', 'DATABASE_URL']) expect(message).toContain(name);
    }
  });

  it('defaults PUBLIC_URL to where the API listens', () => {
    expect(loadConfig({ PORT: '3111' }).publicUrl).toBe('http://localhost:3111');
    expect(loadConfig({ PORT: '3111', HOST: '0.0.0.0' }).publicUrl).toBe('http://localhost:3111');
    expect(loadConfig({ PORT: '8080', HOST: '192.168.1.20' }).publicUrl).toBe('http://192.168.1.20:8080');
    expect(loadConfig({ PORT: '8080', HOST: 'fd00::5' }).publicUrl).toBe('http://[fd00::5]:8080');
    expect(loadConfig({ PORT: '3111', PUBLIC_URL: 'https://papers.example.com/' }).publicUrl).toBe('https://papers.example.com');
    expect(loadConfig({ PORT: '3111' }).listId).toBe('digest.localhost');
  });

  it('refuses to run production without a secret and an SMTP relay', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/SECRET.*\n.*SMTP_URL|SMTP_URL.*\n.*SECRET/s);
  });
});

describe('DKIM settings', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const ed = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const short = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const base = { MAIL_FROM: 'Paperboy <digest@news.example.org>' };
  const problems = (env: Record<string, string>) => {
    try {
      loadConfig({ ...base, ...env });
      return '';
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as Error).message;
    }
  };

  it('reads one or two keys with one selector each, from the value or from a file', () => {
    expect(loadConfig(base).dkim).toBeUndefined();
    const both = loadConfig({ ...base, DKIM_DOMAIN: 'example.org', DKIM_SELECTOR: 'r1,e1', DKIM_PRIVATE_KEY: `${rsa}${ed}`.replace(/\n/g, '\\n') }).dkim!;
    expect(both.domain).toBe('example.org');
    expect(both.keys.map((k) => k.selector)).toEqual(['r1', 'e1']);
    const file = path.join(os.tmpdir(), `dkim-${process.pid}.pem`);
    writeFileSync(file, ed);
    try {
      expect(loadConfig({ ...base, DKIM_DOMAIN: 'news.example.org', DKIM_SELECTOR: 'e1', DKIM_PRIVATE_KEY: file }).dkim!.keys).toHaveLength(1);
    } finally {
      rmSync(file);
    }
  });

  it.each([
    [{ DKIM_DOMAIN: 'example.org' }, 'set all three'],
    [{ DKIM_DOMAIN: 'example.org', DKIM_SELECTOR: 's', DKIM_PRIVATE_KEY: short }, 'key 1 is an RSA key of 1024 bits'],
    [{ DKIM_DOMAIN: 'example.org', DKIM_SELECTOR: 's', DKIM_PRIVATE_KEY: `${rsa}${ed}` }, '2 keys need 2 selectors'],
    [{ DKIM_DOMAIN: 'other.example', DKIM_SELECTOR: 's', DKIM_PRIVATE_KEY: ed }, 'does not align with the MAIL_FROM domain news.example.org'],
    [{ DKIM_DOMAIN: 'example.org', DKIM_SELECTOR: 's', DKIM_PRIVATE_KEY: '/nonexistent/key.pem' }, 'neither a PEM key nor a readable key file'],
  ])('refuses %o', (env, message) => {
    expect(problems(env)).toContain(message);
  });
});
