import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerAddress, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import type { RateLimit } from '../config/rate-list.ts';
import type { Executor } from '../db/database.ts';
import { parseVerpAddress, type VerpSettings } from '../delivery/verp.ts';
import type { Logger } from '../logger.ts';
import { createReportWriter, type NewReport } from './inbound-report.repository.ts';
import type { ReportPurpose } from './inbound-report.table.ts';
import { readRenewedTls, tlsFilesVersion, type InboundTls } from './tls-settings.ts';

export interface ListenerSettings {
  port: number;
  host: string;
  maxBytes: number;
  rateLimits: readonly RateLimit[];
  verp: VerpSettings;
  /** Connections open at once from one address (default MAX_CONNECTIONS_PER_IP). */
  maxConnectionsPerIp?: number;
  /** STARTTLS with this key and certificate; plain SMTP only without. */
  tls?: InboundTls | undefined;
  /** How often the TLS files are looked at for a renewal (default TLS_FILES_CHECK_MS). */
  tlsFilesCheckMs?: number;
}

/** Certificates are renewed days before they expire; a minute is soon enough to notice. */
const TLS_FILES_CHECK_MS = 60_000;

export interface InboundListener {
  port: number;
  close(): Promise<void>;
}

// One message names one delivery; a few recipients cover a report copied to two of our addresses.
const MAX_RECIPIENTS = 10;
// A relay opens a handful of connections to one destination (Postfix: 20 by default); more from
// one address is a flood that would take the listener's 200 slots from everyone else.
const MAX_CONNECTIONS_PER_IP = 40;

type SmtpError = Error & { responseCode: number };
const reply = (code: number, text: string): SmtpError => Object.assign(new Error(text), { responseCode: code });

/**
 * The MX of BOUNCE_DOMAIN: takes DSNs, complaints and mailto: unsubscribes for our own signed
 * addresses only (src/delivery/verp.ts), plus the bare `BOUNCE_LOCAL@BOUNCE_DOMAIN`, which is the
 * address to register with feedback loops (they send ARF reports to one fixed address; the
 * report is linked by the signed return path inside it). Anything else is refused at RCPT with
 * 550: this is not an open relay.
 *
 * A message is answered 250 only once it is stored in Postgres (inbound_reports); processing
 * happens after (processor.ts), so a crash in between loses nothing.
 */
export async function startInboundListener(
  deps: { db: Executor; log: Logger; onStored: () => void },
  settings: ListenerSettings,
): Promise<InboundListener> {
  const limiter = createIpLimiter(settings.rateLimits);
  const store = createReportWriter(deps.db);
  const open = new Map<string, Set<string>>();
  const maxPerIp = settings.maxConnectionsPerIp ?? MAX_CONNECTIONS_PER_IP;
  const bare = `${settings.verp.local}@${settings.verp.domain}`.toLowerCase();
  const server = new SMTPServer({
    name: settings.verp.domain,
    banner: 'Paperboy inbound reports',
    authOptional: true,
    // STARTTLS only with the operator's certificate (INBOUND_TLS_*), never smtp-server's built-in
    // test one; without it senders deliver in plain text (RFC 3207 §4). No AUTH: nobody logs in here.
    disabledCommands: settings.tls ? ['AUTH'] : ['STARTTLS', 'AUTH'],
    ...(settings.tls ? { key: settings.tls.key, cert: settings.tls.cert, minVersion: 'TLSv1.2' as const } : {}),
    logger: false,
    // A reverse DNS look-up per connection would only slow bounces down: nothing here trusts it.
    disableReverseLookup: true,
    size: settings.maxBytes,
    maxClients: 200,
    socketTimeout: 60_000,
    closeTimeout: 5_000,
    onConnect(session, callback) {
      const ip = session.remoteAddress;
      const mine = open.get(ip) ?? new Set<string>();
      if (mine.size >= maxPerIp) {
        deps.log.warn({ ip, open: mine.size }, 'inbound: too many connections from one address');
        return callback(reply(421, '4.7.0 Too many connections from your address, try again later'));
      }
      open.set(ip, mine.add(session.id));
      callback();
    },
    onClose(session) {
      const mine = open.get(session.remoteAddress);
      if (mine?.delete(session.id) && mine.size === 0) open.delete(session.remoteAddress);
    },
    onMailFrom(_address, session, callback) {
      if (!limiter.take(session.remoteAddress)) {
        deps.log.warn({ ip: session.remoteAddress }, 'inbound: rate limit reached');
        return callback(reply(421, '4.7.0 Too many messages from your address, try again later'));
      }
      callback();
    },
    onRcptTo(address: SMTPServerAddress, session: SMTPServerSession, callback) {
      if (session.envelope.rcptTo.length >= MAX_RECIPIENTS) return callback(reply(452, '4.5.3 Too many recipients'));
      const target = classifyRecipient(settings.verp, bare, address.address);
      if (!target.ok) {
        deps.log.info({ ip: session.remoteAddress, rcpt: address.address.slice(0, 200), reason: target.reason }, 'inbound: recipient refused');
        return callback(reply(550, target.reason === 'foreign' ? '5.7.1 Relaying denied: not a local address' : '5.1.1 No such recipient'));
      }
      callback();
    },
    onData(stream: SMTPServerDataStream, session: SMTPServerSession, callback) {
      const chunks: Buffer[] = [];
      let bytes = 0;
      stream.on('data', (chunk: Buffer) => {
        // Past the limit the rest is read and dropped: the client gets its 552 after the dot.
        if (bytes + chunk.length <= settings.maxBytes) chunks.push(chunk);
        bytes += chunk.length;
      });
      stream.on('error', (error) => deps.log.warn({ err: error }, 'inbound: data stream error'));
      stream.on('end', () => {
        if (stream.sizeExceeded || bytes > settings.maxBytes) {
          deps.log.warn({ ip: session.remoteAddress, bytes }, 'inbound: message too large');
          return callback(reply(552, `5.3.4 Message too big (limit ${settings.maxBytes} bytes)`));
        }
        const raw = Buffer.concat(chunks);
        const reports: NewReport[] = session.envelope.rcptTo.map((rcpt) => {
          const target = classifyRecipient(settings.verp, bare, rcpt.address);
          return {
            source: 'smtp',
            remoteIp: session.remoteAddress ?? null,
            envelopeFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            recipient: rcpt.address,
            purpose: target.ok ? target.purpose : null,
            deliveryId: target.ok ? target.deliveryId : null,
            raw,
          };
        });
        store(reports).then(
          () => {
            callback();
            deps.onStored();
          },
          (error: unknown) => {
            deps.log.error({ err: error }, 'inbound: could not store a report');
            callback(reply(451, '4.3.0 Temporary failure storing the message, try again later'));
          },
        );
      });
    },
  });
  server.on('error', (error) => deps.log.warn({ err: error }, 'inbound: connection error'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(settings.port, settings.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const pruner = setInterval(() => limiter.prune(), 60_000);
  pruner.unref();
  const renewals = settings.tls?.files ? watchTlsFiles(server, settings.tls.files, settings.tlsFilesCheckMs ?? TLS_FILES_CHECK_MS, deps.log) : undefined;
  return {
    port: (server.server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(pruner);
        renewals?.stop();
        server.close(() => resolve());
      }),
  };
}

/**
 * Looks at the key and certificate files every `everyMs` and, when they changed and make a usable
 * pair, gives new STARTTLS handshakes the new pair (connections already encrypted keep theirs).
 * A pair that is not usable (a renewal half-written, a broken file) is logged and the listener
 * keeps the one it has.
 */
function watchTlsFiles(server: SMTPServer, files: { key: string; cert: string }, everyMs: number, log: Logger): { stop(): void } {
  let seen: string | undefined;
  let checking = false;
  void tlsFilesVersion(files).then((version) => (seen ??= version));
  const timer = setInterval(() => {
    if (checking) return;
    checking = true;
    void tlsFilesVersion(files)
      .then((version) => {
        if (version === undefined || version === seen) return;
        const renewed = readRenewedTls(files);
        if (!renewed.ok) {
          log.warn({ reason: renewed.reason }, 'inbound: the TLS key or certificate files changed but cannot be used yet; keeping the current pair');
          return;
        }
        server.updateSecureContext({ key: renewed.tls.key, cert: renewed.tls.cert });
        seen = version;
        log.info({ cert: files.cert }, 'inbound: TLS certificate reloaded');
      })
      .finally(() => (checking = false));
  }, everyMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

type Recipient = { ok: true; purpose: ReportPurpose; deliveryId: number | null } | { ok: false; reason: 'foreign' | 'malformed' | 'forged' };

function classifyRecipient(verp: VerpSettings, bare: string, address: string): Recipient {
  if (address.toLowerCase() === bare) return { ok: true, purpose: 'feedback', deliveryId: null };
  const parsed = parseVerpAddress(verp, address);
  return parsed.ok ? { ok: true, purpose: parsed.purpose, deliveryId: parsed.deliveryId } : parsed;
}

/** Fixed windows per connecting address, in this process (each listener replica counts its own). */
function createIpLimiter(limits: readonly RateLimit[]) {
  const counts = new Map<string, { window: number; n: number }[]>();
  return {
    take(ip: string): boolean {
      const now = Date.now();
      const entry = counts.get(ip) ?? limits.map(() => ({ window: -1, n: 0 }));
      counts.set(ip, entry);
      const windows = limits.map((limit) => Math.floor(now / limit.windowMs));
      entry.forEach((slot, i) => {
        if (slot.window !== windows[i]) Object.assign(slot, { window: windows[i], n: 0 });
      });
      if (entry.some((slot, i) => slot.n >= limits[i]!.max)) return false;
      for (const slot of entry) slot.n++;
      return true;
    },
    prune() {
      const now = Date.now();
      for (const [ip, entry] of counts) if (entry.every((slot, i) => slot.window !== Math.floor(now / limits[i]!.windowMs))) counts.delete(ip);
    },
  };
}
