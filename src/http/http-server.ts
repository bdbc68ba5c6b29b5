import http from 'node:http';
import { isIP } from 'node:net';
import type { Config } from '../config.ts';

/**
 * X-Forwarded-For without the entries that are not IP addresses. Proxies append real addresses;
 * anything else was written by the client, and must never become the address rate limits and
 * consent records use (Fastify's proxy-addr would return a non-address as it is).
 */
export function cleanForwardedFor(value: string): string | undefined {
  const addresses = value
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => isIP(entry) !== 0);
  return addresses.length > 0 ? addresses.join(', ') : undefined;
}

/**
 * The Node server behind Fastify, made here so that the request timeout covers the whole request:
 * Fastify only sets `server.requestTimeout` after creation, which leaves Node's 60 s
 * `headersTimeout` and its 30 s check interval in place (trickled headers then ran ~60 s and slow
 * bodies ~90 s against a 30 s setting). Node checks both limits every `connectionsCheckingInterval`.
 */
export function createHttpServer(config: Pick<Config, 'requestTimeoutMs' | 'trustProxy'>, handler: http.RequestListener): http.Server {
  const timeout = config.requestTimeoutMs;
  const cleanProxyHeader = config.trustProxy !== false;
  const server = http.createServer(
    {
      requestTimeout: timeout,
      headersTimeout: timeout,
      connectionsCheckingInterval: Math.min(1_000, timeout),
    },
    (req, res) => {
      const forwarded = req.headers['x-forwarded-for'];
      if (cleanProxyHeader && forwarded !== undefined) {
        const cleaned = cleanForwardedFor(Array.isArray(forwarded) ? forwarded.join(',') : forwarded);
        if (cleaned === undefined) delete req.headers['x-forwarded-for'];
        else req.headers['x-forwarded-for'] = cleaned;
      }
      handler(req, res);
    },
  );
  server.keepAliveTimeout = 10_000;
  // An idle socket (no bytes at all) is closed after the same time.
  server.setTimeout(timeout);
  return server;
}
