import type { Config } from '../config.ts';
import { verificationSecrets } from '../config/secrets.ts';
import type { Database } from '../db/database.ts';
import type { Logger } from '../logger.ts';
import { startInboundListener } from './listener.ts';
import { decodeWebhook } from './webhooks/decode.ts';
import type { ReportDeps } from './process-report.ts';
import { startReportProcessor, type ReportProcessor } from './processor.ts';

export interface InboundService {
  port: number;
  processor: ReportProcessor;
  close(): Promise<void>;
}

export function reportDeps(config: Config, db: Database, log: Logger): ReportDeps {
  return {
    db,
    log,
    verp: config.bounce ? { ...config.bounce, secrets: verificationSecrets(config) } : undefined,
    decodeWebhook,
    softBounceLimit: config.delivery.softBounceLimit,
    softBounceDays: config.delivery.softBounceDays,
  };
}

/**
 * The listener and the processor behind it (the `inbound` role; `all` runs it when BOUNCE_DOMAIN is
 * set); without the listener (`listen: false` or no BOUNCE_DOMAIN), the processor alone, which
 * sweeps up webhook reports a crash left unprocessed.
 */
export async function startInbound(config: Config, db: Database, log: Logger, options: { listen?: boolean } = {}): Promise<InboundService> {
  const deps = reportDeps(config, db, log);
  const processor = startReportProcessor(deps, { sweepMs: config.inbound.sweepMs, rawRetentionMs: config.inbound.rawRetentionMs });
  if (options.listen === false || !deps.verp) return { port: 0, processor, close: () => processor.stop() };
  try {
    const listener = await startInboundListener(
      { db, log, onStored: () => processor.kick() },
      { port: config.inbound.port, host: config.inbound.host, maxBytes: config.inbound.maxBytes, rateLimits: config.inbound.rateLimits, verp: deps.verp, tls: config.inbound.tls },
    );
    log.info({ port: listener.port, host: config.inbound.host, domain: config.bounce!.domain, starttls: config.inbound.tls !== undefined }, 'inbound listener started');
    return {
      port: listener.port,
      processor,
      async close() {
        await listener.close();
        await processor.stop();
      },
    };
  } catch (error) {
    await processor.stop();
    throw error;
  }
}
