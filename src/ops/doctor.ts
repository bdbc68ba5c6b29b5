import { isIP } from 'node:net';
import type { Resolver } from 'node:dns/promises';
import { spf } from 'mailauth/lib/spf/index.js';
import getDmarcRecord, { createRecordLookup, getOrgDomain } from 'mailauth/lib/dmarc/get-dmarc-record.js';
import type { Config } from '../config.ts';
import { dkimDnsRecord } from '../delivery/dkim.ts';
import { createSubscriberToken } from '../subscribers/tokens.ts';
import { PROBE_SUBSCRIBER_ID } from '../subscribers/mail-links.service.ts';

/**
 * `paperboy doctor`: what a sender needs before the first send, checked against the live DNS and
 * the public URL, each with the fix. The rules: SPF (RFC 7208) must allow the relay for the
 * envelope sender's domain; the DKIM key in DNS (RFC 6376 §3.6) must be the one we sign with;
 * DMARC (RFC 7489) must exist for the From domain and align with DKIM or SPF; bounces need an MX;
 * links need https; and one-click unsubscribe (RFC 8058) must answer a POST with 200.
 */

export interface DoctorCheck {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

export interface DoctorOptions {
  /** The DNS to ask (a test's own server, or a resolver with other servers). */
  resolver: Resolver;
  /** The relay's public sending address, when the SMTP_URL host is not it (a relay on a private network). */
  relayIp?: string;
  fetch?: typeof fetch;
}

type Lookup = (name: string, rrtype: string) => Promise<string[][] | string[]>;

const domainOf = (address: string) => address.slice(address.lastIndexOf('@') + 1).toLowerCase();
const txt = (records: string[][]) => records.map((chunks) => chunks.join(''));
const errorCode = (error: unknown) => (error as { code?: string }).code ?? (error as Error).message;
const isPrivate = (ip: string) =>
  /^(127\.|10\.|192\.168\.|169\.254\.|172\.(1[6-9]|2\d|3[01])\.|0\.)/.test(ip) || ip === '::1' || /^f[cd]/i.test(ip) || /^fe80:/i.test(ip);

export async function runDoctor(config: Config, options: DoctorOptions): Promise<DoctorCheck[]> {
  const resolver = options.resolver;
  const lookup: Lookup = async (name, rrtype) => (await resolver.resolve(name, rrtype)) as string[][] | string[];
  const fromDomain = domainOf(config.mailFrom.address);
  const envelopeDomain = config.bounce?.domain ?? fromDomain;
  const spfCheck = await checkSpf(config, options, lookup, envelopeDomain);
  return [
    spfCheck,
    ...(await checkDkim(config, resolver)),
    await checkDmarc(config, lookup, fromDomain, envelopeDomain, spfCheck.ok),
    await checkBounceMx(config, resolver),
    await checkPublicUrl(config, options.fetch ?? fetch),
    await checkOneClick(config, options.fetch ?? fetch),
  ];
}

async function relayAddress(config: Config, options: DoctorOptions): Promise<string | undefined> {
  if (options.relayIp) return options.relayIp;
  if (!config.smtpUrl) return undefined;
  const host = new URL(config.smtpUrl).hostname.replace(/^\[|\]$/g, '');
  if (isIP(host)) return host;
  try {
    return (await options.resolver.resolve4(host))[0];
  } catch {
    return undefined;
  }
}

async function checkSpf(config: Config, options: DoctorOptions, lookup: Lookup, domain: string): Promise<DoctorCheck> {
  const name = 'SPF';
  const ip = await relayAddress(config, options);
  if (!ip) return { name, ok: false, detail: 'no relay address to check: SMTP_URL is not set or its host does not resolve', fix: 'set SMTP_URL, or give the relay\'s sending address with --relay-ip' };
  if (isPrivate(ip) && !options.relayIp) {
    return { name, ok: false, detail: `the relay ${ip} is a private address; receivers see the relay's public sending address`, fix: 'run again with --relay-ip <the relay\'s public sending address>' };
  }
  const result = await spf({ sender: `postmaster@${domain}`, ip, helo: domain, mta: 'paperboy-doctor', resolver: lookup });
  const verdict = result.status.result;
  if (verdict === 'pass') return { name, ok: true, detail: `${domain} allows the relay ${ip}` };
  const hint = verdict === 'none' ? `${domain} publishes no SPF record` : `${domain} gives "${verdict}" for the relay ${ip}`;
  return { name, ok: false, detail: hint, fix: `publish  ${domain} TXT "v=spf1 ip4:${ip} -all"  (or your relay's include:, e.g. include:amazonses.com)` };
}

async function checkDkim(config: Config, resolver: Resolver): Promise<DoctorCheck[]> {
  if (!config.dkim) {
    return [{ name: 'DKIM', ok: false, detail: 'the digest is not signed here (DKIM_DOMAIN, DKIM_SELECTOR, DKIM_PRIVATE_KEY unset)', fix: 'set them (README: "DKIM"), or make sure your relay signs with a domain aligned with MAIL_FROM and ignore this line' }];
  }
  const checks: DoctorCheck[] = [];
  for (const key of config.dkim.keys) {
    const name = `DKIM ${key.selector}`;
    const host = `${key.selector}._domainkey.${config.dkim.domain}`;
    const expected = dkimDnsRecord(key.privateKey);
    const expectedKey = /p=([^;\s]+)/.exec(expected)![1];
    let records: string[];
    try {
      records = txt(await resolver.resolveTxt(host));
    } catch (error) {
      checks.push({ name, ok: false, detail: `no TXT record at ${host} (${errorCode(error)})`, fix: `publish  ${host} TXT "${expected}"` });
      continue;
    }
    const published = records.map((r) => /(?:^|;)\s*p=([^;]*)/.exec(r)?.[1]?.replace(/\s+/g, ''));
    if (published.includes(expectedKey)) checks.push({ name, ok: true, detail: `${host} publishes the public half of the key we sign with` });
    else checks.push({ name, ok: false, detail: `${host} publishes a different key than DKIM_PRIVATE_KEY's`, fix: `replace it with  ${host} TXT "${expected}"` });
  }
  return checks;
}

async function checkDmarc(config: Config, lookup: Lookup, fromDomain: string, envelopeDomain: string, spfPasses: boolean): Promise<DoctorCheck> {
  const name = 'DMARC';
  const record = await getDmarcRecord(fromDomain, lookup).catch(() => false as const);
  if (!record) return { name, ok: false, detail: `no DMARC record for ${fromDomain}`, fix: `publish  _dmarc.${fromDomain} TXT "v=DMARC1; p=none; rua=mailto:dmarc@${fromDomain}"  (tighten p= once reports look right)` };
  // Relaxed alignment (the default, adkim=r / aspf=r) compares organizational domains.
  const records = createRecordLookup(lookup);
  const org = (domain: string) => getOrgDomain(domain, records).catch(() => domain);
  const fromOrg = await org(fromDomain);
  const aligned = async (domain: string, mode: string | undefined) => (mode === 's' ? domain === fromDomain : (await org(domain)) === fromOrg);
  const dkimAligned = config.dkim ? await aligned(config.dkim.domain, record.adkim) : false;
  const spfAligned = spfPasses && (await aligned(envelopeDomain, record.aspf));
  const policy = `v=DMARC1; p=${record.p ?? 'none'}`;
  if (dkimAligned || spfAligned) {
    const by = [dkimAligned ? `DKIM (d=${config.dkim!.domain})` : '', spfAligned ? `SPF (${envelopeDomain})` : ''].filter(Boolean).join(' and ');
    return { name, ok: true, detail: `${record.recordDomain} publishes "${policy}"; ${fromDomain} aligns through ${by}` };
  }
  return {
    name,
    ok: false,
    detail: `${record.recordDomain} publishes "${policy}", but neither DKIM nor SPF aligns with ${fromDomain}`,
    fix: `sign with DKIM_DOMAIN=${fromDomain} (or a subdomain of ${fromOrg}), or send from an envelope domain under ${fromOrg} that SPF allows`,
  };
}

async function checkBounceMx(config: Config, resolver: Resolver): Promise<DoctorCheck> {
  const name = 'Bounces';
  if (!config.bounce) return { name, ok: false, detail: 'BOUNCE_DOMAIN is unset: bounces and complaints that arrive later by mail reach nobody here', fix: 'set BOUNCE_DOMAIN to a domain whose MX points at this installation (README: "Bounces")' };
  const domain = config.bounce.domain;
  let exchanges: { exchange: string; priority: number }[];
  try {
    exchanges = await resolver.resolveMx(domain);
  } catch (error) {
    exchanges = [];
    if (errorCode(error) !== 'ENODATA' && errorCode(error) !== 'ENOTFOUND') return { name, ok: false, detail: `MX lookup for ${domain} failed (${errorCode(error)})`, fix: 'check the DNS of the bounce domain' };
  }
  if (exchanges.length === 0) return { name, ok: false, detail: `${domain} has no MX record`, fix: `publish  ${domain} MX 10 <the host that receives this installation's bounces>` };
  const hosts = exchanges.sort((a, b) => a.priority - b.priority).map((mx) => mx.exchange);
  for (const host of hosts) {
    const addresses = await resolver.resolve4(host).catch(() => [] as string[]);
    if (addresses.length > 0) return { name, ok: true, detail: `${domain} MX ${host} (${addresses.join(', ')})` };
  }
  return { name, ok: false, detail: `the MX hosts of ${domain} (${hosts.join(', ')}) have no address`, fix: `give ${hosts[0]} an A record` };
}

async function checkPublicUrl(config: Config, fetchFn: typeof fetch): Promise<DoctorCheck> {
  const name = 'PUBLIC_URL';
  const url = new URL(config.publicUrl);
  if (url.protocol !== 'https:') return { name, ok: false, detail: `${config.publicUrl} is not https: unsubscribe and preference links travel in clear text`, fix: 'serve Paperboy behind TLS and set PUBLIC_URL=https://…' };
  try {
    const res = await fetchFn(new URL('/healthz', url), { redirect: 'manual', signal: AbortSignal.timeout(10_000) });
    if (res.status !== 200) return { name, ok: false, detail: `${url.origin}/healthz answered ${res.status}`, fix: 'check that PUBLIC_URL reaches this installation (proxy, ALLOWED_HOSTS)' };
    return { name, ok: true, detail: `${url.origin} answers over https with a certificate this machine trusts` };
  } catch (error) {
    const cause = errorCode((error as { cause?: unknown }).cause ?? error);
    return { name, ok: false, detail: `${url.origin} is not reachable over valid https (${cause})`, fix: 'install a certificate for the host that browsers and mail clients trust (e.g. from Let\'s Encrypt)' };
  }
}

async function checkOneClick(config: Config, fetchFn: typeof fetch): Promise<DoctorCheck> {
  const name = 'One-click';
  const token = createSubscriberToken(config.secret, 'unsubscribe', PROBE_SUBSCRIBER_ID, 1);
  const target = new URL(`/u/${token}`, config.publicUrl);
  try {
    // As a mailbox provider sends it (RFC 8058 §3.2): a POST with this body, no cookies, no redirects.
    const res = await fetchFn(target, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
      redirect: 'manual',
      signal: AbortSignal.timeout(10_000),
    });
    if (res.status === 200) return { name, ok: true, detail: `POST ${target.origin}/u/… answered 200` };
    return { name, ok: false, detail: `POST ${target.origin}/u/… answered ${res.status}; mailbox providers expect 200`, fix: 'check that the proxy passes POST to /u/ through unchanged and does not redirect it' };
  } catch (error) {
    return { name, ok: false, detail: `POST ${target.origin}/u/… failed (${errorCode((error as { cause?: unknown }).cause ?? error)})`, fix: 'check that PUBLIC_URL reaches this installation' };
  }
}

/** The checklist as printed by `paperboy doctor`. */
export function formatDoctorReport(checks: readonly DoctorCheck[]): string {
  const width = Math.max(...checks.map((c) => c.name.length));
  const lines = checks.flatMap((c) => [
    `${c.ok ? '✓' : '✗'} ${c.name.padEnd(width)}  ${c.detail}`,
    ...(c.ok || !c.fix ? [] : [`  ${' '.repeat(width)}  fix: ${c.fix}`]),
  ]);
  const passed = checks.filter((c) => c.ok).length;
  return `${lines.join('\n')}\n\n${passed} of ${checks.length} checks passed${passed === checks.length ? ': ready to send.' : '.'}\n`;
}
