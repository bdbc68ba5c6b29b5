/**
 * The benchmark's SMTP server, run as its own process (so its CPU is not the sender's): accepts
 * everything, keeps only counts and the Message-IDs of digests (to find duplicates), and answers
 * the parent over IPC.
 */
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

const seen = new Set<string>();
let accepted = 0;
let duplicates = 0;
let firstAt = 0;
let lastAt = 0;

const server = new SMTPServer({
  authOptional: true,
  disabledCommands: ['STARTTLS'],
  logger: false,
  maxClients: 1000,
  onData(stream, _session, callback) {
    let head = '';
    let inHead = true;
    stream.on('data', (chunk: Buffer) => {
      if (!inHead) return;
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end >= 0) (head = head.slice(0, end)), (inHead = false);
    });
    stream.on('end', () => {
      const id = /^Message-ID:\s*(\S+)/im.exec(head)?.[1];
      if (id?.startsWith('<digest.')) {
        if (seen.has(id)) duplicates++;
        else seen.add(id);
      }
      accepted++;
      lastAt = performance.now();
      if (firstAt === 0) firstAt = lastAt;
      callback();
    });
  },
});
server.on('error', () => {});

server.listen(0, '127.0.0.1', () => {
  process.send!({ type: 'listening', port: (server.server.address() as AddressInfo).port });
});

process.on('message', (message: { type: string }) => {
  if (message.type === 'stats') {
    process.send!({ type: 'stats', accepted, duplicates, digests: seen.size, firstAt, lastAt, rss: process.memoryUsage().rss });
  } else if (message.type === 'reset') {
    accepted = 0;
    firstAt = 0;
    lastAt = 0;
    process.send!({ type: 'reset' });
  } else if (message.type === 'exit') {
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2_000).unref();
  }
});
