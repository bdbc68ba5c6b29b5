import { readFileSync } from 'node:fs';
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
