import { Resolver } from 'node:dns/promises';

/*
 * Custom domains grouped by the provider their mail goes to. A company on Google Workspace or
 * Microsoft 365 keeps its own domain but its mail is received, and rate-limited, by Google or
 * Microsoft together with gmail.com's or outlook.com's: its MX hosts say so (RFC 5321 §5.1).
 * Lookups happen when a batch first meets a domain, all of the batch's at once, each bounded by
 * a short timeout; answers are cached per process (bounded) and refreshed in the background once
 * stale, so the send path waits for DNS at most once per new domain. A failed or slow lookup
 * leaves the domain its own group.
 */

/** MX host suffixes of the providers whose limits are shared across the domains they host. */
export const MX_PROVIDERS: readonly (readonly [suffix: string, group: string])[] = [
  // aspmx.l.google.com, alt1.aspmx.l.google.com (Workspace), gmail-smtp-in.l.google.com
  ['google.com', 'google'],
  ['googlemail.com', 'google'],
  // <tenant>.mail.protection.outlook.com (Microsoft 365), outlook.com's and hotmail.com's own
  ['outlook.com', 'microsoft'],
  ['hotmail.com', 'microsoft'],
  // mta5.am0.yahoodns.net (Yahoo, AOL and the domains they host)
  ['yahoodns.net', 'yahoo'],
  ['icloud.com', 'apple'],
  ['zoho.com', 'zoho'],
  ['zoho.eu', 'zoho'],
  ['messagingengine.com', 'fastmail'],
  ['protonmail.ch', 'proton'],
  ['yandex.net', 'yandex'],
  ['mimecast.com', 'mimecast'],
  ['pphosted.com', 'proofpoint'],
];

/** The provider group of an MX host name, if it is one of MX_PROVIDERS. */
export function providerOfMxHost(host: string): string | undefined {
  const name = host.toLowerCase().replace(/\.$/, '');
  return MX_PROVIDERS.find(([suffix]) => name === suffix || name.endsWith(`.${suffix}`))?.[1];
}

/** "127.0.0.1:5353, 10.0.0.2" → the list, checked by node:dns itself; throws naming the setting. */
export function parseDnsServers(text: string | undefined): string[] | undefined {
  const servers = (text ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (servers.length === 0) return undefined;
  try {
    new Resolver().setServers(servers);
  } catch {
    throw new Error(`"${text}" is not a list of DNS server addresses with optional ports (e.g. 127.0.0.1:53,[::1]:53)`);
  }
  return servers;
}

export interface MxGroupingSettings {
  /** The servers to ask (DNS_SERVERS); the system's when unset. */
  servers?: readonly string[] | undefined;
  /** Longest wait for one domain's MX on the send path; the lookup goes on and is cached when it answers. */
  timeoutMs: number;
  /** How long an answer is used before it is looked up again (in the background). */
  ttlMs: number;
  /** How long a failed lookup (timeout, SERVFAIL, no answer) leaves the domain on its own before trying again. */
  failureTtlMs: number;
  /** Domains kept, the least recently looked up dropped first. */
  maxEntries: number;
}

export const DEFAULT_MX_GROUPING: Omit<MxGroupingSettings, 'servers'> = { timeoutMs: 1000, ttlMs: 3_600_000, failureTtlMs: 300_000, maxEntries: 50_000 };

export interface MxGrouping {
  /** Makes sure these domains were looked up: waits for new ones (at most the timeout), refreshes stale ones without waiting. */
  prepare(domains: Iterable<string>): Promise<void>;
  /** The provider a domain's mail goes to, from the cache; undefined: its own group (or not known yet). */
  providerOf(domain: string): string | undefined;
  /** Domains cached, for tests. */
  readonly size: number;
}

type Entry = { provider: string | undefined; expiresAt: number };

export function createMxGrouping(settings: MxGroupingSettings, options: { resolver?: Pick<Resolver, 'resolveMx'>; now?: () => number } = {}): MxGrouping {
  const now = options.now ?? Date.now;
  let resolver = options.resolver;
  if (!resolver) {
    const own = new Resolver({ timeout: settings.timeoutMs, tries: 1 });
    if (settings.servers) own.setServers([...settings.servers]);
    resolver = own;
  }
  const dns = resolver;
  const cache = new Map<string, Entry>();
  const lookups = new Map<string, Promise<void>>();

  const remember = (domain: string, entry: Entry) => {
    // Re-inserted, so the map's order is the order of lookups and the oldest goes first.
    cache.delete(domain);
    cache.set(domain, entry);
    while (cache.size > settings.maxEntries) cache.delete(cache.keys().next().value!);
  };
  const lookUp = (domain: string): Promise<void> => {
    let pending = lookups.get(domain);
    if (!pending) {
      pending = dns
        .resolveMx(domain)
        .then(
          (records) => {
            // The most preferred exchange (lowest preference value) is where the mail goes first.
            const preferred = [...records].sort((a, b) => a.priority - b.priority)[0];
            remember(domain, { provider: preferred && providerOfMxHost(preferred.exchange), expiresAt: now() + settings.ttlMs });
          },
          () => remember(domain, { provider: undefined, expiresAt: now() + settings.failureTtlMs }),
        )
        .finally(() => lookups.delete(domain));
      lookups.set(domain, pending);
    }
    return pending;
  };

  return {
    async prepare(domains) {
      const waiting: string[] = [];
      for (const domain of new Set(domains)) {
        const entry = cache.get(domain);
        if (!entry) waiting.push(domain);
        if (!entry || entry.expiresAt <= now()) void lookUp(domain);
      }
      if (waiting.length === 0) return;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(waiting.map((d) => lookups.get(d))), new Promise<void>((resolve) => (timer = setTimeout(resolve, settings.timeoutMs)))]);
      clearTimeout(timer);
      // Not answered in time: on its own for now, so later batches do not wait for it again (a
      // late answer still lands in the cache).
      for (const domain of waiting) if (!cache.has(domain)) remember(domain, { provider: undefined, expiresAt: now() + settings.failureTtlMs });
    },
    providerOf(domain) {
      return cache.get(domain)?.provider;
    },
    get size() {
      return cache.size;
    },
  };
}
