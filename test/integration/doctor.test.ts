import { execFileSync, spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer, type Server } from 'node:https';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dkimDnsRecord } from '../../src/delivery/dkim.ts';
import { startDnsServer, type TestDnsServer, type Zone } from '../helpers/dns-server.ts';
import { startTestService, type TestService } from '../helpers/service.ts';

const root = path.join(import.meta.dirname, '../..');

/** A CA and a localhost certificate it signed, made with openssl; the doctor trusts the CA via NODE_EXTRA_CA_CERTS. */
function makeCertificates(dir: string) {
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=Paperboy test CA');
  run('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'site.key', '-out', 'site.csr', '-subj', '/CN=localhost');
  const ext = path.join(dir, 'ext.cnf');
  execFileSync('sh', ['-c', `printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > ${ext}`]);
  run('x509', '-req', '-in', 'site.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'site.pem', '-days', '2', '-extfile', ext);
  return { ca: path.join(dir, 'ca.pem'), key: readFileSync(path.join(dir, 'site.key')), cert: readFileSync(path.join(dir, 'site.pem')) };
}

/** TLS in front of the test service, as a reverse proxy would be. */
function startTlsProxy(tls: { key: Buffer; cert: Buffer }, target: () => string): Promise<Server> {
  const server = createHttpsServer(tls, (req, res) => {
    const upstream = httpRequest(new URL(req.url ?? '/', target()), { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function runDoctor(env: Record<string, string>, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'doctor', ...args], { cwd: root, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

// Each case starts `paperboy doctor` as a process (one or two): allow for a busy machine.
describe('paperboy doctor', { timeout: 120_000 }, () => {
  let t: TestService;
  let dns: TestDnsServer;
  let proxy: Server;
  let dir: string;
  let ca: string;
  const dkimKey = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  const goodZone = (): Zone => ({
    'bounces.papers.example.test': { TXT: ['v=spf1 ip4:192.0.2.10 -all'], MX: [{ exchange: 'mx.papers.example.test', priority: 10 }] },
    'mx.papers.example.test': { A: ['192.0.2.25'] },
    's1._domainkey.papers.example.test': { TXT: [dkimDnsRecord(dkimKey)] },
    '_dmarc.papers.example.test': { TXT: ['v=DMARC1; p=reject'] },
  });
  const doctorEnv = (overrides: Record<string, string> = {}) => ({
    NODE_ENV: 'test',
    DATABASE_URL: t.testDb.url,
    REDIS_URL: t.config.redisUrl,
    SMTP_URL: t.sink.url,
    PUBLIC_URL: `https://localhost:${(proxy.address() as AddressInfo).port}`,
    MAIL_FROM: 'Paperboy <digest@papers.example.test>',
    SECRET: t.config.secret,
    BOUNCE_DOMAIN: 'bounces.papers.example.test',
    DKIM_DOMAIN: 'papers.example.test',
    DKIM_SELECTOR: 's1',
    DKIM_PRIVATE_KEY: dkimKey,
    NODE_EXTRA_CA_CERTS: ca,
    LOG_LEVEL: 'silent',
    ...overrides,
  });

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'paperboy-doctor-'));
    const certs = makeCertificates(dir);
    ca = certs.ca;
    t = await startTestService();
    proxy = await startTlsProxy(certs, () => t.baseUrl);
    dns = await startDnsServer(goodZone());
  });
  afterAll(async () => {
    await dns?.close();
    await new Promise((resolve) => proxy?.close(resolve));
    await t?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('passes every check and exits 0 when DNS, https and one-click are right, and the probe unsubscribes nobody', async () => {
    const consentBefore = await t.service.db.selectFrom('consent_events').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    const result = await runDoctor(doctorEnv(), ['--dns', `127.0.0.1:${dns.port}`, '--relay-ip', '192.0.2.10']);
    expect(result.stdout).toMatch(/^✓ SPF\s+bounces\.papers\.example\.test allows the relay 192\.0\.2\.10$/m);
    expect(result.stdout).toMatch(/^✓ DKIM s1\s+s1\._domainkey\.papers\.example\.test publishes the public half/m);
    expect(result.stdout).toMatch(/^✓ DMARC\s+.*aligns through DKIM \(d=papers\.example\.test\)/m);
    expect(result.stdout).toMatch(/^✓ Bounces\s+bounces\.papers\.example\.test MX mx\.papers\.example\.test \(192\.0\.2\.25\)$/m);
    expect(result.stdout).toMatch(/^✓ PUBLIC_URL\s+https:\/\/localhost:\d+ answers over https/m);
    expect(result.stdout).toMatch(/^✓ One-click\s+POST https:\/\/localhost:\d+\/u\/… answered 200$/m);
    expect(result.stdout).toContain('6 of 6 checks passed: ready to send.');
    expect(result.code, result.stdout + result.stderr).toBe(0);
    const consentAfter = await t.service.db.selectFrom('consent_events').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    expect(consentAfter.n).toBe(consentBefore.n);
  });

  it('names each broken part with its fix and exits 1', async () => {
    const wrongKey = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    dns.zone['bounces.papers.example.test'] = { TXT: ['v=spf1 ip4:198.51.100.1 -all'] };
    dns.zone['s1._domainkey.papers.example.test'] = { TXT: [dkimDnsRecord(wrongKey)] };
    delete dns.zone['_dmarc.papers.example.test'];
    try {
      const result = await runDoctor(doctorEnv(), ['--dns', `127.0.0.1:${dns.port}`, '--relay-ip', '192.0.2.10']);
      expect(result.code, result.stdout + result.stderr).toBe(1);
      expect(result.stdout).toMatch(/^✗ SPF\s+bounces\.papers\.example\.test gives "fail" for the relay 192\.0\.2\.10\n\s+fix: publish {2}bounces\.papers\.example\.test TXT "v=spf1 ip4:192\.0\.2\.10 -all"/m);
      expect(result.stdout).toMatch(/^✗ DKIM s1\s+s1\._domainkey\.papers\.example\.test publishes a different key than DKIM_PRIVATE_KEY's\n\s+fix: replace it with {2}s1\._domainkey\.papers\.example\.test TXT "v=DKIM1; k=ed25519; p=/m);
      expect(result.stdout).toContain(`TXT "${dkimDnsRecord(dkimKey)}"`);
      expect(result.stdout).toMatch(/^✗ DMARC\s+no DMARC record for papers\.example\.test\n\s+fix: publish {2}_dmarc\.papers\.example\.test TXT "v=DMARC1; p=none/m);
      expect(result.stdout).toMatch(/^✗ Bounces\s+bounces\.papers\.example\.test has no MX record/m);
      expect(result.stdout).toContain('2 of 6 checks passed.');
    } finally {
      Object.assign(dns.zone, goodZone());
    }
  });

  it('refuses plain http, a certificate it does not trust, and a one-click endpoint that does not answer 200', async () => {
    const untrusted = await runDoctor(doctorEnv({ NODE_EXTRA_CA_CERTS: '' }), ['--dns', `127.0.0.1:${dns.port}`, '--relay-ip', '192.0.2.10']);
    expect(untrusted.code).toBe(1);
    expect(untrusted.stdout).toMatch(/^✗ PUBLIC_URL\s+https:\/\/localhost:\d+ is not reachable over valid https \(\w+/m);

    const plain = await runDoctor(doctorEnv({ PUBLIC_URL: t.baseUrl, SECRET: `${t.config.secret.slice(1)}x` }), ['--dns', `127.0.0.1:${dns.port}`, '--relay-ip', '192.0.2.10']);
    expect(plain.code).toBe(1);
    expect(plain.stdout).toMatch(/^✗ PUBLIC_URL\s+http:\/\/127\.0\.0\.1:\d+ is not https/m);
    // Signed with another secret, the probe link is not valid here: the endpoint answers 4xx.
    expect(plain.stdout).toMatch(/^✗ One-click\s+POST http:\/\/127\.0\.0\.1:\d+\/u\/… answered 4\d\d; mailbox providers expect 200/m);
  });

  it('asks for the relay\'s public address when SMTP_URL points at a private one, and refuses a bad --relay-ip', async () => {
    const privateRelay = await runDoctor(doctorEnv(), ['--dns', `127.0.0.1:${dns.port}`]);
    expect(privateRelay.code).toBe(1);
    expect(privateRelay.stdout).toMatch(/^✗ SPF\s+the relay 127\.0\.0\.1 is a private address.*\n\s+fix: run again with --relay-ip/m);

    const bad = await runDoctor(doctorEnv(), ['--relay-ip', 'relay.example.com']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--relay-ip must be an IPv4 or IPv6 address, got "relay.example.com"');
  });
});
