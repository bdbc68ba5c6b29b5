import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Signed per-delivery addresses (VERP): the digest's envelope sender is
 * `BOUNCE_LOCAL+b<ref>@BOUNCE_DOMAIN`, and its `mailto:` unsubscribe address (RFC 2369) is
 * `BOUNCE_LOCAL+u<ref>@BOUNCE_DOMAIN`. A bounce or an unsubscribe mailed there names the delivery
 * without a database look-up of the address, and nobody can make one up: `<ref>` is the delivery
 * id and a 64-bit HMAC over the purpose and the id.
 *
 * `<ref>` is base32 (RFC 4648 alphabet, lower case, no padding): letters and 2–7 only, so an MTA
 * that lower-cases local parts (RFC 5321 §2.4 lets it) or a receiver that upper-cases them changes
 * nothing, and it needs no quoting in a local part (RFC 5322 dot-atom).
 */

export type VerpPurpose = 'bounce' | 'unsubscribe';

export interface VerpSettings {
  /** The local part before the `+`, e.g. `bounces`. */
  readonly local: string;
  /** The domain whose MX receives bounces and mailto: unsubscribes (not read by this app yet). */
  readonly domain: string;
  /** The keys that verify (the first also signs), from SECRET and SECRET_PREVIOUS. */
  readonly secrets: readonly string[];
}

const PURPOSE_CHAR: Record<VerpPurpose, string> = { bounce: 'b', unsubscribe: 'u' };
const TAG_BYTES = 8;
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

export function base32(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

export function fromBase32(text: string): Buffer | undefined {
  const bytes: number[] = [];
  let bits = 0;
  let value = 0;
  for (const char of text.toLowerCase()) {
    const index = ALPHABET.indexOf(char);
    if (index < 0) return undefined;
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      bytes.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
    value &= (1 << bits) - 1;
  }
  // Canonical form only: leftover bits must be zero padding of less than one byte.
  if (bits >= 5 || value !== 0) return undefined;
  return Buffer.from(bytes);
}

/** The key for these addresses only: a link token and a return path never share a MAC. */
function tag(secret: string, purpose: VerpPurpose, id: Buffer): Buffer {
  const key = createHmac('sha256', secret).update('paperboy verp v1').digest();
  return createHmac('sha256', key).update(PURPOSE_CHAR[purpose]).update(id).digest().subarray(0, TAG_BYTES);
}

function idBytes(deliveryId: number): Buffer {
  if (!Number.isSafeInteger(deliveryId) || deliveryId < 1) throw new Error(`not a delivery id: ${deliveryId}`);
  const hex = deliveryId.toString(16);
  return Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex');
}

/** `b…` or `u…`: the purpose, then base32 of the id's bytes and the tag. */
export function verpReference(settings: VerpSettings, purpose: VerpPurpose, deliveryId: number): string {
  const id = idBytes(deliveryId);
  return PURPOSE_CHAR[purpose] + base32(Buffer.concat([id, tag(settings.secrets[0]!, purpose, id)]));
}

export function verpAddress(settings: VerpSettings, purpose: VerpPurpose, deliveryId: number): string {
  return `${settings.local}+${verpReference(settings, purpose, deliveryId)}@${settings.domain}`;
}

/** The `mailto:` URI for List-Unsubscribe (RFC 2369 §3.2, RFC 6068). */
export function unsubscribeMailto(settings: VerpSettings, deliveryId: number): string {
  return `mailto:${verpAddress(settings, 'unsubscribe', deliveryId)}?subject=unsubscribe`;
}

export type VerpParse =
  | { ok: true; purpose: VerpPurpose; deliveryId: number }
  /** `foreign`: not one of our addresses at all (another local part or domain). */
  | { ok: false; reason: 'foreign' | 'malformed' | 'forged' };

/**
 * Reads an address we handed out. Case does not matter anywhere; anything else about it must be
 * exact (one `+`, our local part and domain, a canonical reference with a valid tag).
 */
export function parseVerpAddress(settings: VerpSettings, address: string): VerpParse {
  const at = address.lastIndexOf('@');
  if (at < 0) return { ok: false, reason: 'foreign' };
  const local = address.slice(0, at).toLowerCase();
  const domain = address.slice(at + 1).toLowerCase().replace(/\.$/, '');
  const prefix = `${settings.local.toLowerCase()}+`;
  if (domain !== settings.domain.toLowerCase() || !local.startsWith(prefix)) return { ok: false, reason: 'foreign' };
  const reference = local.slice(prefix.length);
  const purpose = reference[0] === 'b' ? 'bounce' : reference[0] === 'u' ? 'unsubscribe' : undefined;
  // An id of at most 7 bytes (safe integers) plus the tag: 9 to 15 bytes, 15 to 24 characters.
  if (!purpose || reference.length < 16 || reference.length > 25) return { ok: false, reason: 'malformed' };
  const bytes = fromBase32(reference.slice(1));
  if (!bytes || bytes.length <= TAG_BYTES || bytes.length > TAG_BYTES + 7) return { ok: false, reason: 'malformed' };
  const id = bytes.subarray(0, bytes.length - TAG_BYTES);
  const given = bytes.subarray(bytes.length - TAG_BYTES);
  if (id[0] === 0) return { ok: false, reason: 'malformed' };
  const deliveryId = Number.parseInt(id.toString('hex'), 16);
  for (const secret of settings.secrets) {
    if (timingSafeEqual(given, tag(secret, purpose, id))) return { ok: true, purpose, deliveryId };
  }
  return { ok: false, reason: 'forged' };
}
