import { isIP } from 'node:net';

/**
 * TRUST_PROXY: `false`, a hop count, or the proxies' addresses and CIDR ranges (also the names
 * loopback, linklocal, uniquelocal). `true` trusts every X-Forwarded-For entry, so a client picks
 * its own address: accepted for compatibility, warned about at start (startupWarnings).
 * Undefined when an entry of a list is neither an address, a range nor one of those names.
 */
export function parseTrustProxy(value: string): boolean | number | string[] | undefined {
  const v = value.trim().toLowerCase();
  if (v === '' || v === 'false' || v === '0') return false;
  if (v === 'true') return true;
  if (/^\d+$/.test(v)) return Number(v);
  const entries = value.split(',').map((e) => e.trim()).filter(Boolean);
  return entries.every(isProxyAddressEntry) ? entries : undefined;
}

function isProxyAddressEntry(entry: string): boolean {
  if (['loopback', 'linklocal', 'uniquelocal'].includes(entry)) return true;
  const [address, prefix, ...rest] = entry.split('/');
  const family = isIP(address ?? '');
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  // A prefix length, or an IPv4 netmask such as 255.255.255.0.
  if (/^\d{1,3}$/.test(prefix)) return Number(prefix) <= (family === 4 ? 32 : 128);
  return family === 4 && isIP(prefix) === 4;
}
