import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { startInboundListener, type InboundListener } from '../../src/inbound/listener.ts';
import { startReportProcessor, type ReportProcessor } from '../../src/inbound/processor.ts';
import { createLogger } from '../../src/logger.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { dsnFor, seedSentDeliveries } from '../helpers/inbound-seed.ts';
import { openSmtpSession } from '../helpers/smtp-client.ts';
import { waitFor } from '../helpers/wait-for.ts';

const DOMAIN = 'bounces.papers.example.test';
const dir = mkdtempSync(path.join(os.tmpdir(), 'paperboy-inbound-tls-'));
/** A self-signed certificate for localhost, made with openssl as an operator would for a test. */
const selfSigned = (name: string) => {
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'],
    { cwd: dir, stdio: 'pipe' },
  );
  return { key: path.join(dir, `${name}.key`), cert: path.join(dir, `${name}.pem`) };
};

describe('inbound listener: STARTTLS with the operator certificate (INBOUND_TLS_KEY / INBOUND_TLS_CERT)', () => {
  let t: TestDatabase;
  let listener: InboundListener;
  let plain: InboundListener;
  let processor: ReportProcessor;
  const files = selfSigned('mx');
  const verp = { local: 'bounces', domain: DOMAIN, secrets: [randomBytes(32).toString('hex')] };

  beforeAll(async () => {
    t = await createTestDatabase();
    const log = createLogger('silent');
    processor = startReportProcessor({ db: t.db, log, verp, softBounceLimit: 3, softBounceDays: 7 }, { sweepMs: 60_000, rawRetentionMs: 86_400_000 });
    const config = loadConfig({ BOUNCE_DOMAIN: DOMAIN, INBOUND_TLS_KEY: files.key, INBOUND_TLS_CERT: files.cert });
    const settings = { port: 0, host: '127.0.0.1', maxBytes: 1024 * 1024, rateLimits: [{ max: 1000, windowMs: 60_000 }], verp };
    listener = await startInboundListener({ db: t.db, log, onStored: () => processor.kick() }, { ...settings, tls: config.inbound.tls });
    plain = await startInboundListener({ db: t.db, log, onStored: () => processor.kick() }, settings);
  });
  afterAll(async () => {
    await listener?.close();
    await plain?.close();
    await processor?.stop();
    await t?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('offers STARTTLS; a client upgrades, checks the certificate and delivers a DSN over TLS, which takes effect', async () => {
    const [row] = (await seedSentDeliveries(t.db, 1)).rows;
    const { returnPath, raw } = dsnFor(verp, row!, 'gmail-hard.eml');
    const session = await openSmtpSession(listener.port);
    try {
      expect(session.ehlo.text).toMatch(/^250[- ]STARTTLS$/m);
      // The client trusts only this certificate, so a handshake with anything else would fail.
      expect((await session.starttls({ ca: readFileSync(files.cert, 'utf8') })).code).toBe(220);
      expect(session.secure).toBe(true);
      // RFC 3207 §4.2: the session starts over; STARTTLS is not offered twice.
      expect(session.ehlo.code).toBe(250);
      expect(session.ehlo.text).not.toMatch(/STARTTLS/);
      const result = await session.send({ from: '', to: [returnPath] }, raw);
      expect(result.data?.code).toBe(250);
    } finally {
      await session.close();
    }
    await waitFor(async () => (await t.db.selectFrom('deliveries').select('status').where('id', '=', row!.deliveryId).executeTakeFirst())?.status === 'bounced', { what: 'delivery bounced' });
    const report = await t.db.selectFrom('inbound_reports').select(['kind', 'purpose']).where('recipient', '=', returnPath).executeTakeFirstOrThrow();
    expect(report).toEqual({ kind: 'hard_bounce', purpose: 'bounce' });
  });

  it('a client that does not upgrade still delivers in plain text (RFC 3207 §4: STARTTLS is not required of senders)', async () => {
    const [row] = (await seedSentDeliveries(t.db, 1, '2025-12-27')).rows;
    const { returnPath, raw } = dsnFor(verp, row!, 'exim-hard.eml');
    const session = await openSmtpSession(listener.port);
    try {
      expect((await session.send({ from: '', to: [returnPath] }, raw)).data?.code).toBe(250);
    } finally {
      await session.close();
    }
  });

  it('a handshake the client refuses (it does not trust the certificate) leaves the listener serving', async () => {
    const session = await openSmtpSession(listener.port);
    await expect(session.starttls({ ca: [] as string[], rejectUnauthorized: true })).rejects.toThrow(/self-signed|self signed|unable to verify/i);
    await session.close();
    const again = await openSmtpSession(listener.port);
    expect(again.ehlo.code).toBe(250);
    await again.close();
  });

  it('takes a renewed certificate without a restart, and keeps the one it has while the files are not a usable pair', async () => {
    const first = selfSigned('renew-first');
    const second = selfSigned('renew-second');
    const third = selfSigned('renew-third');
    const live = { key: path.join(dir, 'live.key'), cert: path.join(dir, 'live.pem') };
    copyFileSync(first.key, live.key);
    copyFileSync(first.cert, live.cert);
    const warnings: string[] = [];
    const log = createLogger('warn', 'test', { write: (line: string) => void warnings.push(line) });
    const config = loadConfig({ BOUNCE_DOMAIN: DOMAIN, INBOUND_TLS_KEY: live.key, INBOUND_TLS_CERT: live.cert });
    const renewing = await startInboundListener(
      { db: t.db, log, onStored: () => {} },
      { port: 0, host: '127.0.0.1', maxBytes: 1024 * 1024, rateLimits: [{ max: 1000, windowMs: 60_000 }], verp, tls: config.inbound.tls, tlsFilesCheckMs: 50 },
    );
    // A handshake succeeds only when the listener presents the one certificate the client trusts.
    const presents = async (certFile: string) => {
      const session = await openSmtpSession(renewing.port);
      try {
        return (await session.starttls({ ca: readFileSync(certFile, 'utf8'), rejectUnauthorized: true })).code === 220;
      } catch {
        return false;
      } finally {
        await session.close().catch(() => {});
      }
    };
    try {
      expect(await presents(first.cert)).toBe(true);
      expect(await presents(second.cert)).toBe(false);
      // A renewal: the key first, then the certificate, as a tool writes them.
      copyFileSync(second.key, live.key);
      copyFileSync(second.cert, live.cert);
      await waitFor(() => presents(second.cert), { what: 'the renewed certificate presented', timeoutMs: 10_000 });
      expect(await presents(first.cert)).toBe(false);
      // Half a renewal (a new key, the old certificate): not a pair, so the listener keeps the second.
      copyFileSync(third.key, live.key);
      await waitFor(() => warnings.some((line) => line.includes('cannot be used yet')), { what: 'the unusable pair reported', timeoutMs: 10_000 });
      expect(await presents(second.cert)).toBe(true);
      copyFileSync(third.cert, live.cert);
      await waitFor(() => presents(third.cert), { what: 'the completed renewal presented', timeoutMs: 10_000 });
    } finally {
      await renewing.close();
    }
  });

  it('without INBOUND_TLS_* the listener does not advertise STARTTLS and refuses it', async () => {
    const session = await openSmtpSession(plain.port);
    try {
      expect(session.ehlo.text).not.toMatch(/STARTTLS/);
      expect((await session.starttls()).code).toBeGreaterThanOrEqual(500);
      expect(session.secure).toBe(false);
    } finally {
      await session.close();
    }
  });

  it('configuration: both or neither, PEM text or files, and a key that does not match its certificate is refused at start', () => {
    const other = selfSigned('other');
    const pem = readFileSync(files.key, 'utf8').replace(/\n/g, '\\n');
    expect(loadConfig({ INBOUND_TLS_KEY: pem, INBOUND_TLS_CERT: files.cert }).inbound.tls?.key).toContain('-----BEGIN PRIVATE KEY-----\n');
    expect(loadConfig({}).inbound.tls).toBeUndefined();
    const problem = (env: Record<string, string>) => {
      try {
        loadConfig(env);
      } catch (error) {
        return (error as ConfigError).problems.join('\n');
      }
      return 'accepted';
    };
    expect(problem({ INBOUND_TLS_KEY: files.key })).toMatch(/set both/);
    expect(problem({ INBOUND_TLS_KEY: path.join(dir, 'missing.key'), INBOUND_TLS_CERT: files.cert })).toMatch(/INBOUND_TLS_KEY: neither PEM text nor a readable file/);
    expect(problem({ INBOUND_TLS_KEY: other.key, INBOUND_TLS_CERT: files.cert })).toMatch(/not a usable key and certificate pair/);
  });
});
