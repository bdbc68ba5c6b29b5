import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import type { Executor } from '../db/database.ts';

const MAX_MESSAGE_BYTES = 10 * 1024 * 1024;

/**
 * Development only: a local SMTP server that stores every message in Postgres, so the /dev/mail
 * page can show what would have been sent when no SMTP relay is configured.
 */
export async function startCaptureServer(db: Executor, port: number, host = '127.0.0.1'): Promise<{ port: number; close(): Promise<void> }> {
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    size: MAX_MESSAGE_BYTES,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        if (stream.sizeExceeded) {
          callback(Object.assign(new Error('552 message too large'), { responseCode: 552 }));
          return;
        }
        const raw = Buffer.concat(chunks).toString('utf8');
        const subject = /^Subject: (.*(?:\r?\n[ \t].*)*)/im.exec(raw)?.[1]?.replace(/\r?\n[ \t]/g, ' ') ?? '';
        db.insertInto('dev_mailbox')
          .values({
            envelope_from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            envelope_to: session.envelope.rcptTo.map((r) => r.address),
            subject,
            raw,
          })
          .execute()
          .then(
            () => callback(),
            (error: unknown) => callback(Object.assign(new Error(`451 could not store message: ${String(error)}`), { responseCode: 451 })),
          );
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
