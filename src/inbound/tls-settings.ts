import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';

export interface InboundTls {
  readonly key: string;
  readonly cert: string;
}

/**
 * INBOUND_TLS_KEY and INBOUND_TLS_CERT: a PEM private key and its certificate chain (PEM text,
 * `\n` escapes allowed, or the path of a file), both or neither. With them the listener offers
 * STARTTLS (RFC 3207), which sending MTAs try first; they are read once at start, so a renewed
 * certificate takes effect on restart. Checked here, so a bad pair stops the process with a
 * message instead of failing each handshake.
 */
export function parseInboundTls(e: { INBOUND_TLS_KEY?: string | undefined; INBOUND_TLS_CERT?: string | undefined }, problems: string[]): InboundTls | undefined {
  if (e.INBOUND_TLS_KEY === undefined && e.INBOUND_TLS_CERT === undefined) return undefined;
  if (e.INBOUND_TLS_KEY === undefined || e.INBOUND_TLS_CERT === undefined) {
    problems.push('INBOUND_TLS_KEY, INBOUND_TLS_CERT: set both to offer STARTTLS, or neither');
    return undefined;
  }
  const key = pemOrFile('INBOUND_TLS_KEY', e.INBOUND_TLS_KEY, problems);
  const cert = pemOrFile('INBOUND_TLS_CERT', e.INBOUND_TLS_CERT, problems);
  if (key === undefined || cert === undefined) return undefined;
  try {
    createSecureContext({ key, cert });
  } catch (error) {
    problems.push(`INBOUND_TLS_KEY, INBOUND_TLS_CERT: not a usable key and certificate pair (${(error as Error).message})`);
    return undefined;
  }
  return Object.freeze({ key, cert });
}

function pemOrFile(name: string, value: string, problems: string[]): string | undefined {
  if (value.includes('-----BEGIN')) return value.replace(/\\n/g, '\n');
  try {
    return readFileSync(value, 'utf8');
  } catch {
    problems.push(`${name}: neither PEM text nor a readable file`);
    return undefined;
  }
}
