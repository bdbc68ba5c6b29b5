import { createHash, createPrivateKey, createPublicKey, sign, type Hash, type KeyObject } from 'node:crypto';

/**
 * DKIM signing (RFC 6376) with RSA-SHA256 and Ed25519-SHA256 (RFC 8463), written for the digest's
 * spliced messages: the body hash of the edition's shared prefix is computed once and its hash
 * state cloned per message (`Hash.copy()`), so a message only hashes what follows its first
 * personal value, its header block and signs.
 *
 * Canonicalisation is `relaxed/simple` (the choice of large senders such as Amazon SES): relaxed
 * headers survive re-folding by relays; the body is quoted-printable with lines under 76
 * characters and no trailing white space, so simple body canonicalisation is byte-exact and can
 * be hashed piece by piece without a canonicaliser in the per-message path. (Relaxed body
 * canonicalisation would gain nothing here: with no trailing white space and CRLF line ends its
 * only change is collapsing runs of spaces inside lines, which no relay that keeps a QP body
 * intact rewrites, and it would need a canonicaliser that carries state across the splices.)
 *
 * The header fields shared by every message of an edition are canonicalised once too
 * (`prepareHeaders`); a message only canonicalises its own few fields (To, Date, ...).
 */

export type DkimAlgorithm = 'rsa-sha256' | 'ed25519-sha256';

export interface DkimKeyConfig {
  readonly selector: string;
  /** PEM (PKCS#8 or PKCS#1 for RSA). */
  readonly privateKey: string;
}

export interface DkimConfig {
  readonly domain: string;
  readonly keys: readonly DkimKeyConfig[];
}

interface SigningKey {
  selector: string;
  algorithm: DkimAlgorithm;
  key: KeyObject;
  /** The tags before h=, the same in every signature of this key. */
  tagPrefix: string;
}

/**
 * The header fields signed, in this order. RFC 8058 §4 requires List-Unsubscribe and
 * List-Unsubscribe-Post to be covered; the others are what a receiver displays or threads on.
 */
const SIGNED_FIELDS = [
  'from',
  'to',
  'cc',
  'reply-to',
  'subject',
  'date',
  'message-id',
  'mime-version',
  'content-type',
  'content-transfer-encoding',
  'list-id',
  'list-unsubscribe',
  'list-unsubscribe-post',
  'feedback-id',
];
/**
 * Named once more than they occur ("over-signing", RFC 6376 §5.4.2 and §8.15): a copy of one of
 * these added in transit, such as a second List-Unsubscribe, breaks the signature.
 */
const OVERSIGNED_FIELDS = new Set(['from', 'to', 'subject', 'date', 'message-id', 'list-id', 'list-unsubscribe', 'list-unsubscribe-post']);

/** The smallest RSA key RFC 8301 §3.2 lets a signer use is 1024 bits; receivers want 2048. */
export const MIN_RSA_BITS = 2048;

/**
 * Parses a DKIM private key; the error message says what is wrong (used by config validation).
 */
export function parseDkimKey(pem: string): { algorithm: DkimAlgorithm; key: KeyObject } {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    throw new Error('not a PEM private key');
  }
  if (key.asymmetricKeyType === 'ed25519') return { algorithm: 'ed25519-sha256', key };
  if (key.asymmetricKeyType === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) throw new Error(`an RSA key of ${bits} bits; at least ${MIN_RSA_BITS} are needed`);
    return { algorithm: 'rsa-sha256', key };
  }
  throw new Error(`a ${key.asymmetricKeyType ?? 'unknown'} key; DKIM signs with RSA or Ed25519`);
}

/** Splits a value holding one or more PEM private keys (one per key type) into blocks. */
export function splitPemKeys(text: string): string[] {
  const normalised = text.replace(/\\n/g, '\n');
  return normalised.match(/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z0-9 ]*PRIVATE KEY-----/g) ?? [];
}

/** The TXT record to publish at `<selector>._domainkey.<domain>` for a private key. */
export function dkimDnsRecord(privateKeyPem: string): string {
  const { algorithm, key } = parseDkimKey(privateKeyPem);
  const publicKey = createPublicKey(key);
  if (algorithm === 'ed25519-sha256') {
    // RFC 8463 §4.2: the bare 32-byte public key, not a SubjectPublicKeyInfo.
    const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
    return `v=DKIM1; k=ed25519; p=${raw.toString('base64')}`;
  }
  return `v=DKIM1; k=rsa; p=${publicKey.export({ format: 'der', type: 'spki' }).toString('base64')}`;
}

/** A header section's fields by lower-case name, in order, as raw text without the final CRLF. */
function parseHeaderFields(block: string): Map<string, string[]> {
  const fields = new Map<string, string[]>();
  let start = 0;
  while (start < block.length) {
    // A field ends at a CRLF not followed by white space (RFC 5322 §2.2.3 folding).
    let end = block.indexOf('\r\n', start);
    while (end >= 0 && (block.charCodeAt(end + 2) === 0x20 || block.charCodeAt(end + 2) === 0x09)) end = block.indexOf('\r\n', end + 2);
    if (end < 0) end = block.length;
    const raw = block.slice(start, end);
    const colon = raw.indexOf(':');
    if (colon > 0) {
      const name = raw.slice(0, colon).trim().toLowerCase();
      const list = fields.get(name);
      if (list) list.push(raw);
      else fields.set(name, [raw]);
    }
    start = end + 2;
  }
  return fields;
}

const NEEDS_RELAXING = /\r\n|\t| {2}/;

/** RFC 6376 §3.4.2 relaxed header canonicalisation of one field, without the trailing CRLF. */
function relaxedField(name: string, raw: string): string {
  return `${name}:${relaxedValue(raw.slice(raw.indexOf(':') + 1))}`;
}

/** The value part of relaxed canonicalisation: unfolded, white space runs as one space, trimmed. */
function relaxedValue(value: string): string {
  // Most fields are one line with single spaces: only the ends need trimming.
  if (NEEDS_RELAXING.test(value)) value = value.replace(/\r\n(?=[ \t])/g, '').replace(/[ \t]+/g, ' ');
  return value.trim();
}

/** Folds a tag list at its separators and the long base64 values, never inside a tag name. */
function foldBase64(value: string): string {
  return value.replace(/.{1,72}/g, (chunk, offset: number) => (offset === 0 ? chunk : `\r\n ${chunk}`));
}

/** RFC 6376 §3.4.3 simple body canonicalisation: trailing empty lines go, an empty body is CRLF. */
export function simpleBody(body: Buffer): Buffer {
  let end = body.length;
  while (end >= 2 && body[end - 2] === 0x0d && body[end - 1] === 0x0a) end -= 2;
  return end === 0 ? Buffer.from('\r\n') : Buffer.concat([body.subarray(0, end), Buffer.from('\r\n')]);
}

interface PreparedKey {
  key: SigningKey;
  /** The DKIM-Signature value up to `bh=`, as written. */
  unsigned: string;
  /** The same, relaxed-canonicalised with its name, as it is hashed. */
  canonical: string;
}

/** Header fields canonicalised once for many messages (see `DkimSigner.prepareHeaders`). */
export interface PreparedHeaders {
  /** Canonical shared fields; slot i's field goes between segments[i] and segments[i + 1]. */
  readonly segments: readonly string[];
  /** The per-message field names, lower case, in signing order. */
  readonly slots: readonly string[];
  readonly keys: readonly PreparedKey[];
}

export class DkimSigner {
  readonly domain: string;
  private readonly keys: SigningKey[];

  constructor(config: DkimConfig) {
    if (config.keys.length === 0) throw new Error('DKIM needs at least one key');
    this.domain = config.domain;
    this.keys = config.keys.map((k) => {
      const parsed = parseDkimKey(k.privateKey);
      return { selector: k.selector, ...parsed, tagPrefix: `v=1; a=${parsed.algorithm}; c=relaxed/simple; d=${config.domain}; s=${k.selector};` };
    });
  }

  get algorithms(): DkimAlgorithm[] {
    return this.keys.map((k) => k.algorithm);
  }

  /** A SHA-256 state for the canonicalised body; feed it the body bytes (not dot-stuffed). */
  bodyHasher(): Hash {
    return createHash('sha256');
  }

  /**
   * The DKIM-Signature fields (each ending in CRLF) to put in front of a message whose header
   * section is `headerBlock` (CRLF-separated, without the blank line) and whose body hash is
   * `bodyHash`. One signature per key; RFC 8463 §5 suggests signing with both RSA and Ed25519
   * while receivers adopt the latter.
   */
  async signatureFields(headerBlock: string, bodyHash: Buffer): Promise<string> {
    return this.signPrepared(this.prepareHeaders(headerBlock, []), [], bodyHash);
  }

  /**
   * Canonicalises, once, the header fields that every message of a kind shares. `headerBlock` is
   * one such message's header section; the fields named in `personal` (lower case, each present
   * exactly once) differ per message and are left as slots, filled by `signPrepared` in the
   * order of `prepared.slots`.
   */
  prepareHeaders(headerBlock: string, personal: readonly string[]): PreparedHeaders {
    const fields = parseHeaderFields(headerBlock);
    const segments: string[] = [];
    const slots: string[] = [];
    let canonical = '';
    let h = '';
    for (const name of SIGNED_FIELDS) {
      const instances = fields.get(name);
      if (!instances) continue;
      if (personal.includes(name)) {
        if (instances.length !== 1) throw new Error(`${name}: a per-message header field must occur once, not ${instances.length} times`);
        segments.push(canonical);
        slots.push(name);
        canonical = '';
      } else {
        // RFC 6376 §5.4.2: repeated names take the field instances from the bottom up.
        for (let i = instances.length - 1; i >= 0; i--) canonical += `${relaxedField(name, instances[i]!)}\r\n`;
      }
      for (let i = 0; i < instances.length; i++) h += h ? `:${name}` : name;
    }
    segments.push(canonical);
    // Over-signed names come last and contribute nothing to the hash (no instance is left).
    for (const name of SIGNED_FIELDS) if (OVERSIGNED_FIELDS.has(name) && fields.has(name)) h += `:${name}`;
    const folded = foldColonList(h);
    const keys = this.keys.map((k) => {
      const unsigned = `${k.tagPrefix}\r\n h=${folded};\r\n bh=`;
      // §3.7: the signature field itself, b= empty, canonicalised; relaxed, its folds become
      // single spaces, so the part before the body hash is the same for every message.
      return { key: k, unsigned, canonical: relaxedField('dkim-signature', `DKIM-Signature: ${unsigned}`) };
    });
    return { segments, slots, keys };
  }

  /**
   * The DKIM-Signature fields for a message prepared by `prepareHeaders`: `values` are the raw
   * values (after the colon) of `prepared.slots`, in that order.
   */
  async signPrepared(prepared: PreparedHeaders, values: readonly string[], bodyHash: Buffer): Promise<string> {
    const { segments, keys } = prepared;
    if (values.length !== prepared.slots.length) throw new Error(`DKIM: ${values.length} per-message values for ${prepared.slots.length} fields`);
    let canonical = segments[0]!;
    for (let i = 0; i < values.length; i++) canonical += `${prepared.slots[i]}:${relaxedValue(values[i]!)}\r\n${segments[i + 1]}`;
    const bh = bodyHash.toString('base64');
    const one = async (k: PreparedKey) => {
      const b = await signData(k.key, `${canonical}${k.canonical}${bh}; b=`);
      return `DKIM-Signature: ${k.unsigned}${bh};\r\n b=${foldBase64(b.toString('base64'))}\r\n`;
    };
    if (keys.length === 1) return one(keys[0]!);
    return (await Promise.all(keys.map(one))).join('');
  }

  /** Signs a complete message (CRLF line ends, not dot-stuffed): the signature fields come first. */
  async signMessage(raw: Buffer): Promise<Buffer> {
    const text = raw.toString('latin1');
    const split = text.indexOf('\r\n\r\n');
    const headerBlock = split < 0 ? text : text.slice(0, split);
    const body = split < 0 ? Buffer.alloc(0) : raw.subarray(split + 4);
    const bodyHash = createHash('sha256').update(simpleBody(body)).digest();
    return Buffer.concat([Buffer.from(await this.signatureFields(headerBlock, bodyHash), 'latin1'), raw]);
  }
}

const foldedLists = new Map<string, string>();
/** h= folded over lines of about 60 characters; the same few lists recur, so they are cached. */
function foldColonList(list: string): string {
  let folded = foldedLists.get(list);
  if (folded === undefined) {
    folded = foldList(list);
    if (foldedLists.size < 64) foldedLists.set(list, folded);
  }
  return folded;
}

function foldList(list: string): string {
  const out: string[] = [];
  let line = '';
  for (const name of list.split(':')) {
    if (line && line.length + name.length > 60) {
      out.push(line);
      line = '';
    }
    line += (line ? ':' : '') + name;
  }
  out.push(line);
  return out.join(':\r\n ');
}

/**
 * RSA signs the canonical data with SHA-256 (RSASSA-PKCS1-v1_5); Ed25519 signs the SHA-256 of it
 * with PureEdDSA (RFC 8463 §3). RSA runs on libuv's thread pool (the callback form of
 * crypto.sign), so its few hundred µs do not hold up the event loop that feeds the sockets.
 */
function signData(key: SigningKey, data: string): Promise<Buffer> {
  // Ed25519 takes ~50 µs: handing it to the thread pool costs more CPU than it saves the loop.
  if (key.algorithm === 'ed25519-sha256') return Promise.resolve(sign(null, createHash('sha256').update(data, 'latin1').digest(), key.key));
  return new Promise((resolve, reject) => {
    sign('sha256', Buffer.from(data, 'latin1'), key.key, (error, signature) => (error ? reject(error) : resolve(signature)));
  });
}
