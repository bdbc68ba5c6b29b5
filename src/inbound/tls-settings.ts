import { readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';

export interface InboundTls {
  readonly key: string;
  readonly cert: string;
  /** The files they were read from, when given as paths: the listener reads them again when they change. */
  readonly files?: { readonly key: string; readonly cert: string } | undefined;
}

/**
 * INBOUND_TLS_KEY and INBOUND_TLS_CERT: a PEM private key and its certificate chain (PEM text,
 * `\n` escapes allowed, or the path of a file), both or neither. With them the listener offers
 * STARTTLS (RFC 3207), which sending MTAs try first. Given as files, they are read again when
 * they change (a renewed certificate, e.g. by certbot or cert-manager, takes effect without a
 * restart: readRenewedTls). Checked here, so a bad pair stops the process with a message instead
 * of failing each handshake.
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
  const usable = usablePair(key, cert);
  if (usable !== true) {
    problems.push(`INBOUND_TLS_KEY, INBOUND_TLS_CERT: ${usable}`);
    return undefined;
  }
  const fromFiles = !e.INBOUND_TLS_KEY.includes('-----BEGIN') && !e.INBOUND_TLS_CERT.includes('-----BEGIN');
  return Object.freeze({ key, cert, files: fromFiles ? Object.freeze({ key: e.INBOUND_TLS_KEY, cert: e.INBOUND_TLS_CERT }) : undefined });
}

function usablePair(key: string, cert: string): true | string {
  try {
    createSecureContext({ key, cert });
    return true;
  } catch (error) {
    return `not a usable key and certificate pair (${(error as Error).message})`;
  }
}

/** What identifies a version of the two files: a renewal changes the time, the size or both. */
export async function tlsFilesVersion(files: { key: string; cert: string }): Promise<string | undefined> {
  try {
    const [key, cert] = await Promise.all([stat(files.key), stat(files.cert)]);
    return `${key.mtimeMs}/${key.size}/${cert.mtimeMs}/${cert.size}`;
  } catch {
    return undefined;
  }
}

/**
 * The key and certificate read again from their files, or why they cannot be used. A renewal
 * writes two files one after the other, so a key that does not match its certificate yet is a
 * half-done renewal: the caller keeps what it has and looks again later.
 */
export function readRenewedTls(files: { key: string; cert: string }): { ok: true; tls: InboundTls } | { ok: false; reason: string } {
  let key: string;
  let cert: string;
  try {
    key = readFileSync(files.key, 'utf8');
    cert = readFileSync(files.cert, 'utf8');
  } catch (error) {
    return { ok: false, reason: `cannot read the files (${(error as Error).message})` };
  }
  const usable = usablePair(key, cert);
  return usable === true ? { ok: true, tls: Object.freeze({ key, cert, files }) } : { ok: false, reason: usable };
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
