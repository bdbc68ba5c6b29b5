import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** A response body rendered once and served many times, with its validators (RFC 9110 §8.8). */
export interface CachedBody {
  readonly body: Buffer;
  readonly contentType: string;
  /** A strong entity tag: a hash of the exact bytes. */
  readonly etag: string;
  /** HTTP-date, second precision (what If-Modified-Since can express). */
  readonly lastModified: string;
}

export function cachedBody(body: string, contentType: string, lastModified: Date): CachedBody {
  const bytes = Buffer.from(body, 'utf8');
  const etag = `"${createHash('sha256').update(bytes).digest('base64url').slice(0, 27)}"`;
  return { body: bytes, contentType, etag, lastModified: lastModified.toUTCString() };
}

/**
 * Sends a cached body, or 304 when the request's If-None-Match (or, without it,
 * If-Modified-Since) says the client has it. Unparseable validators never match: the client gets
 * the full body (RFC 9110 §13.1.2, §13.1.3), never an error.
 */
export function sendCached(req: FastifyRequest, reply: FastifyReply, cached: CachedBody, cacheControl: string): FastifyReply {
  reply.header('etag', cached.etag).header('last-modified', cached.lastModified).header('cache-control', cacheControl);
  if ((req.method === 'GET' || req.method === 'HEAD') && notModified(req.headers['if-none-match'], req.headers['if-modified-since'], cached)) {
    return reply.code(304).send();
  }
  return reply.type(cached.contentType).send(cached.body);
}

/**
 * RFC 9110 §13.2.2 for GET and HEAD: If-None-Match decides when present (weak comparison, `*`
 * matches any current representation); otherwise If-Modified-Since, when it is a valid date. A
 * request's `Cache-Control: no-cache` does not change this: it speaks to caches, not to the origin
 * (RFC 9111 §5.2.1.4), and fetch() adds it to every request that carries a validator.
 */
export function notModified(ifNoneMatch: string | undefined, ifModifiedSince: string | undefined, cached: Pick<CachedBody, 'etag' | 'lastModified'>): boolean {
  if (ifNoneMatch !== undefined) {
    if (ifNoneMatch.trim() === '*') return true;
    const opaque = cached.etag;
    for (const tag of ifNoneMatch.split(',')) {
      const t = tag.trim();
      if (t === opaque || t === `W/${opaque}`) return true;
    }
    return false;
  }
  if (ifModifiedSince === undefined) return false;
  const since = Date.parse(ifModifiedSince);
  return !Number.isNaN(since) && Date.parse(cached.lastModified) <= since;
}

/**
 * A small in-process cache with a time to live and a size bound (oldest entry out first). A value
 * is cached as its promise, so concurrent misses of one key load it once. A failed load is dropped.
 */
export class TtlCache<V> {
  private readonly entries = new Map<string, { value: Promise<V>; expires: number }>();
  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
  ) {}

  getOrLoad(key: string, load: () => Promise<V>, now = Date.now()): Promise<V> {
    const hit = this.entries.get(key);
    if (hit && hit.expires > now) return hit.value;
    if (hit) this.entries.delete(key);
    const value = load();
    if (this.ttlMs <= 0) return value;
    this.entries.set(key, { value, expires: now + this.ttlMs });
    value.catch(() => {
      if (this.entries.get(key)?.value === value) this.entries.delete(key);
    });
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    return value;
  }

  /** Keeps a value only when `keep` says so (e.g. never a "not found"). */
  async getOrLoadIf(key: string, load: () => Promise<V>, keep: (value: V) => boolean): Promise<V> {
    const value = await this.getOrLoad(key, load);
    if (!keep(value)) this.entries.delete(key);
    return value;
  }

  get size(): number {
    return this.entries.size;
  }
}
