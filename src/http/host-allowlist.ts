import type { FastifyRequest } from 'fastify';
import type { Config } from '../config.ts';
import { isLoopbackHost } from '../config/loopback-host.ts';
import { DomainError } from '../errors.ts';

/** The lower-case host name of a Host value ("Example.com:3000" → "example.com", "[::1]:80" → "[::1]"). */
export function hostnameOf(host: string): string | undefined {
  try {
    const url = new URL(`http://${host}`);
    if (url.username || url.password || url.pathname !== '/' || url.search || url.hash) return undefined;
    return url.hostname.replace(/\.$/, '');
  } catch {
    return undefined;
  }
}

/**
 * DNS rebinding defence: a page on attacker.example whose name is made to resolve to this server
 * sends `Host: attacker.example`, so the API answers only for PUBLIC_URL's host, loopback names
 * (how a person on this machine and the tests reach it), a specific bind address, and
 * ALLOWED_HOSTS. Everything else gets 421 Misdirected Request (RFC 9110 §15.5.20). /healthz
 * stays open to load balancers that probe by address; it tells nothing.
 */
export function hostAllowlist(config: Pick<Config, 'publicUrl' | 'host' | 'allowedHosts'>) {
  const allowed = new Set([hostnameOf(new URL(config.publicUrl).host)!, ...config.allowedHosts]);
  const bound = hostnameOf(config.host.includes(':') && !config.host.startsWith('[') ? `[${config.host}]` : config.host);
  if (bound && bound !== '0.0.0.0' && bound !== '[::]') allowed.add(bound);
  return async function checkHost(req: FastifyRequest): Promise<void> {
    if (req.routeOptions.url === '/healthz') return;
    // HTTP/1.0 without Host: no browser sends that, so it cannot be a rebinding attempt.
    const host = req.host;
    if (!host) return;
    const name = hostnameOf(host);
    if (name !== undefined && (allowed.has(name) || isLoopbackHost(name))) return;
    throw new DomainError('misdirected_request', 'This server does not answer for that host name.');
  };
}
