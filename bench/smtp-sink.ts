/**
 * The benchmark's SMTP server: accepts everything, keeps only counts and the Message-IDs of
 * digests (to find duplicates). `bench/sink-process.ts` runs it as its own process, so its CPU is
 * not the sender's, and answers the bench over IPC.
 *
 * Memory must stay flat for a million messages: a Message-ID taken out of the first chunk with a
 * regex or `slice` is a V8 sliced string that keeps the whole chunk (tens of kB) alive, which is
 * how an earlier version reached its 4 GB heap limit at 800,000 messages. Digest ids are therefore
 * kept as numbers, any other id as a fresh copy.
 */
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { SMTPServer } from 'smtp-server';

const DIGEST_ID = /^<digest\.e(\d+)\.s(\d+)@/;
const HEAD_LIMIT = 16 * 1024;

/** Counts accepted messages and finds duplicate digest Message-IDs, in O(1) bytes per id. */
export class MessageIdLedger {
  /** Subscriber ids seen per edition id: a Set of small integers, no strings kept. */
  private readonly digests = new Map<number, Set<number>>();
  private readonly others = new Set<string>();
  duplicates = 0;
  size = 0;

  /** Records one digest Message-ID; returns false when it was seen before. */
  record(id: string): boolean {
    const match = DIGEST_ID.exec(id);
    let fresh: boolean;
    if (match) {
      const edition = Number(match[1]);
      const subscriber = Number(match[2]);
      let set = this.digests.get(edition);
      if (!set) this.digests.set(edition, (set = new Set()));
      fresh = !set.has(subscriber);
      if (fresh) set.add(subscriber);
    } else {
      fresh = !this.others.has(id);
      // A copy through a Buffer: a new flat string that owns only its own bytes.
      if (fresh) this.others.add(Buffer.from(id, 'latin1').toString('latin1'));
    }
    if (fresh) this.size++;
    else this.duplicates++;
    return fresh;
  }
}

/** The Message-ID header of a message's head (everything before the blank line), if any. */
export function messageIdOf(head: string): string | undefined {
  return /^Message-ID:\s*(\S+)/im.exec(head)?.[1];
}

/**
 * Reads a DATA stream, keeping only the head (at most 16 kB, never the body), and resolves with
 * its Message-ID once the whole message has arrived.
 */
export function readMessageId(stream: Readable): Promise<string | undefined> {
  return readMessageHead(stream).then(messageIdOf);
}

/** The head of a message from its DATA stream (at most 16 kB), once the whole message arrived. */
export function readMessageHead(stream: Readable): Promise<string> {
  return new Promise((resolve, reject) => {
    let head = '';
    let inHead = true;
    stream.on('data', (chunk: Buffer) => {
      if (!inHead) return;
      head += chunk.toString('latin1', 0, Math.min(chunk.length, HEAD_LIMIT - head.length));
      const end = head.indexOf('\r\n\r\n');
      if (end >= 0) (head = head.slice(0, end)), (inHead = false);
      else if (head.length >= HEAD_LIMIT) inHead = false;
    });
    stream.on('error', reject);
    stream.on('end', () => resolve(head));
  });
}

export interface SinkStats {
  accepted: number;
  /** Accepted messages whose first header field is a DKIM-Signature (the DKIM bench scenario). */
  signed: number;
  duplicates: number;
  digests: number;
  firstAt: number;
  lastAt: number;
  rss: number;
  refused: number;
}

export interface BenchSink {
  port: number;
  stats(): SinkStats;
  /** Forgets the counts and times of accepted messages (not the digest ids). */
  reset(): void;
  /**
   * A relay outage: drops every open connection and refuses new ones for `ms`, then listens
   * again on the same port.
   */
  outage(ms: number): Promise<void>;
  close(): Promise<void>;
}

export async function startBenchSink(port = 0): Promise<BenchSink> {
  const ids = new MessageIdLedger();
  let accepted = 0;
  let signed = 0;
  let firstAt = 0;
  let lastAt = 0;
  let refused = 0;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    maxClients: 1000,
    onData(stream, _session, callback) {
      readMessageHead(stream).then((head) => {
        const id = messageIdOf(head);
        if (id?.startsWith('<digest.')) ids.record(id);
        if (head.startsWith('DKIM-Signature:')) signed++;
        accepted++;
        lastAt = performance.now();
        if (firstAt === 0) firstAt = lastAt;
        callback();
      }, callback);
    },
  });
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  const bound = (server.server.address() as AddressInfo).port;
  const connections = (server as unknown as { connections: Set<{ _socket: { destroy(): void } }> }).connections;
  return {
    port: bound,
    stats: () => ({ accepted, signed, duplicates: ids.duplicates, digests: ids.size, firstAt, lastAt, rss: process.memoryUsage().rss, refused }),
    reset() {
      accepted = 0;
      signed = 0;
      firstAt = 0;
      lastAt = 0;
    },
    async outage(ms) {
      await new Promise<void>((resolve) => {
        server.server.close(() => resolve());
        for (const connection of connections) connection._socket.destroy();
      });
      refused++;
      await new Promise((resolve) => setTimeout(resolve, ms));
      await new Promise<void>((resolve) => server.server.listen(bound, '127.0.0.1', () => resolve()));
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const connection of connections) connection._socket.destroy();
        server.close(() => resolve());
      }),
  };
}
