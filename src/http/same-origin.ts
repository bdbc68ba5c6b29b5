import type { FastifyRequest } from 'fastify';
import { DomainError } from '../errors.ts';
import { hostnameOf } from './host-allowlist.ts';

/**
 * CSRF defence for form POSTs, lightest first (OWASP: fetch metadata, then Origin).
 *
 * Browsers send `Sec-Fetch-Site` and `Origin` on form POSTs, so a POST a browser made from another
 * site is refused here. A request with neither header is let through: that is not a browser page
 * being abused but a client such as curl, a script or a test, which could send any header it
 * liked anyway, so refusing it would add no protection. The RFC 8058 one-click unsubscribe does
 * not use this check at all: mail providers post it with no context.
 */
export function isSameOriginRequest(req: FastifyRequest, publicUrl: string): boolean {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return false;
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  // Browsers send "null" for privacy-sensitive contexts; fetch metadata, which pages cannot
  // forge, then decides.
  if (origin === 'null') return site === 'same-origin';
  let parsed: URL;
  try {
    parsed = new URL(origin);
  } catch {
    return false;
  }
  // The whole origin: scheme, host and port (an http page must not post to the https site).
  const ours = new URL(publicUrl);
  if (parsed.origin === ours.origin) return true;
  // Reached under another name than PUBLIC_URL's (loopback on this machine and in tests, an
  // ALLOWED_HOSTS name): the request's own origin, scheme included. Under PUBLIC_URL's name only
  // PUBLIC_URL's origin counts, whatever scheme the request reached us with.
  if (hostnameOf(req.host) === hostnameOf(ours.host)) return false;
  return parsed.origin === requestOrigin(req);
}

function requestOrigin(req: FastifyRequest): string | undefined {
  try {
    return new URL(`${req.protocol}://${req.host}`).origin;
  } catch {
    return undefined;
  }
}

export function requireSameOrigin(publicUrl: string) {
  return async function sameOrigin(req: FastifyRequest): Promise<void> {
    if (!isSameOriginRequest(req, publicUrl)) throw new DomainError('forbidden', 'This form can only be sent from this site.');
  };
}
