import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { createDomainPacer, domainGroup } from '../../src/delivery/domain-pacing.ts';
import { createMxGrouping, DEFAULT_MX_GROUPING, parseDnsServers, providerOfMxHost } from '../../src/delivery/mx-groups.ts';
import { createRedis } from '../../src/queue/queues.ts';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.ts';
import { testRedisUrl } from '../helpers/service.ts';

/** Issue #11 item 6: custom domains paced with the provider their MX belongs to, against a DNS server started here. */
describe('pacing groups custom domains by their MX provider', () => {
  let dns: TestDnsServer;
  // A UDP port that takes queries and never answers: a DNS server gone silent.
  let silent: dgram.Socket;
  const redis = createRedis({ url: testRedisUrl, role: 'worker' });
  const prefix = `pbmx-${randomBytes(6).toString('hex')}`;
  beforeAll(async () => {
    dns = await startDnsServer({
      'workspace.example': { MX: [{ exchange: 'alt1.aspmx.l.google.com', priority: 5 }, { exchange: 'aspmx.l.google.com', priority: 1 }] },
      'tenant.example': { MX: [{ exchange: 'tenant-example.mail.protection.outlook.com', priority: 0 }] },
      'hosted.example': { MX: [{ exchange: 'mta5.am0.yahoodns.net', priority: 1 }] },
      'own.example': { MX: [{ exchange: 'mx.own.example', priority: 10 }] },
      // Its preferred exchange is its own; a provider only as a backup does not make it that provider's.
      'backup.example': { MX: [{ exchange: 'mx.backup.example', priority: 10 }, { exchange: 'aspmx.l.google.com', priority: 20 }] },
    });
    silent = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    await dns.close();
    silent.close();
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });
  const servers = () => [`127.0.0.1:${dns.port}`];

  it('knows the big providers by their MX host names', () => {
    expect(providerOfMxHost('ASPMX.L.GOOGLE.COM.')).toBe('google');
    expect(providerOfMxHost('contoso-com.mail.protection.outlook.com')).toBe('microsoft');
    expect(providerOfMxHost('mta7.am0.yahoodns.net')).toBe('yahoo');
    expect(providerOfMxHost('mx.own.example')).toBeUndefined();
    // A suffix only at a label boundary: notgoogle.com is not Google.
    expect(providerOfMxHost('mx.notgoogle.com')).toBeUndefined();
  });

  it('groups a Workspace, a Microsoft 365 and a Yahoo-hosted domain with their provider; others and unknown domains stay on their own', async () => {
    const mx = createMxGrouping({ ...DEFAULT_MX_GROUPING, servers: servers() });
    await mx.prepare(['workspace.example', 'tenant.example', 'hosted.example', 'own.example', 'backup.example', 'missing.example']);
    const group = (email: string) => domainGroup(email, mx);
    expect(group('ceo@Workspace.Example')).toBe('google');
    expect(group('a@tenant.example')).toBe('microsoft');
    expect(group('a@hosted.example')).toBe('yahoo');
    expect(group('a@own.example')).toBe('own.example');
    expect(group('a@backup.example')).toBe('backup.example');
    // NXDOMAIN: the domain itself.
    expect(group('a@missing.example')).toBe('missing.example');
    // A domain given its own rate in DOMAIN_RATES keeps it, whatever its MX.
    expect(domainGroup('a@workspace.example', mx, { 'workspace.example': 3 })).toBe('workspace.example');
  });

  it('a slow-down from a Workspace domain slows gmail.com with it: one bucket for the provider', async () => {
    const settings = { rates: { google: 20 }, defaultRate: 100, slowDownFactor: 0.5, recoveryMs: 600_000 };
    const pacer = createDomainPacer(redis, { keyPrefix: prefix, settings, mx: createMxGrouping({ ...DEFAULT_MX_GROUPING, servers: servers() }) });
    // The first batch that meets the domain looks it up; the slow-down after its send finds it cached.
    const { now } = await pacer.admit([{ id: 1, email: 'ceo@workspace.example' }]);
    expect(now).toHaveLength(1);
    expect(await pacer.slowDown('ceo@workspace.example')).toBeCloseTo(10, 2);
    expect(await pacer.currentRate('google')).toBeLessThan(10.1);
    expect(pacer.group('someone@gmail.com')).toBe('google');
    expect(await pacer.currentRate('workspace.example')).toBe(100);
  });

  it('answers from its cache until the TTL, then refreshes in the background; a failure is retried after its shorter TTL', async () => {
    let clock = 0;
    const mx = createMxGrouping({ ...DEFAULT_MX_GROUPING, ttlMs: 1000, failureTtlMs: 100, servers: servers() }, { now: () => clock });
    await mx.prepare(['own.example', 'moving.example']);
    expect(mx.providerOf('own.example')).toBeUndefined();
    expect(mx.providerOf('moving.example')).toBeUndefined();
    // The domains move to Google: not seen while the answers are fresh.
    dns.zone['own.example'] = { MX: [{ exchange: 'aspmx.l.google.com', priority: 1 }] };
    dns.zone['moving.example'] = { MX: [{ exchange: 'aspmx.l.google.com', priority: 1 }] };
    clock = 50;
    await mx.prepare(['own.example', 'moving.example']);
    expect(mx.providerOf('own.example')).toBeUndefined();
    expect(mx.providerOf('moving.example')).toBeUndefined();
    // moving.example had failed (NXDOMAIN): retried after 100 ms. A stale entry is refreshed without waiting for it.
    clock = 150;
    await mx.prepare(['own.example', 'moving.example']);
    await expect.poll(() => mx.providerOf('moving.example')).toBe('google');
    expect(mx.providerOf('own.example')).toBeUndefined();
    clock = 1100;
    await mx.prepare(['own.example']);
    await expect.poll(() => mx.providerOf('own.example')).toBe('google');
    dns.zone['own.example'] = { MX: [{ exchange: 'mx.own.example', priority: 10 }] };
  });

  it('waits for a silent DNS server no longer than its timeout: the domain goes on its own, and later batches do not wait again', async () => {
    const mx = createMxGrouping({ ...DEFAULT_MX_GROUPING, timeoutMs: 200, servers: [`127.0.0.1:${(silent.address() as AddressInfo).port}`] });
    await mx.prepare(['workspace.example']);
    expect(domainGroup('a@workspace.example', mx)).toBe('workspace.example');
    expect(mx.size).toBe(1);
  });

  it('keeps at most maxEntries domains, dropping the oldest lookups', async () => {
    const mx = createMxGrouping({ ...DEFAULT_MX_GROUPING, maxEntries: 2, servers: servers() });
    for (const domain of ['workspace.example', 'tenant.example', 'hosted.example']) await mx.prepare([domain]);
    expect(mx.size).toBe(2);
    expect(mx.providerOf('workspace.example')).toBeUndefined();
    expect([mx.providerOf('tenant.example'), mx.providerOf('hosted.example')]).toEqual(['microsoft', 'yahoo']);
  });

  it('reads DNS_SERVERS and DOMAIN_MX_GROUPING from the environment, naming a bad value', () => {
    expect(parseDnsServers('127.0.0.1:5353, [::1]:53')).toEqual(['127.0.0.1:5353', '[::1]:53']);
    expect(parseDnsServers('')).toBeUndefined();
    expect(() => parseDnsServers('dns.example.com')).toThrow(/"dns.example.com" is not a list of DNS server addresses/);
    expect(loadConfig({ DNS_SERVERS: '127.0.0.1:5353' }).domainPacing.mx).toMatchObject({ servers: ['127.0.0.1:5353'], timeoutMs: 1000 });
    expect(loadConfig({ DOMAIN_MX_GROUPING: 'false' }).domainPacing.mx).toBeUndefined();
    expect(() => loadConfig({ DNS_SERVERS: 'not a server' })).toThrow(/DNS_SERVERS/);
  });
});
