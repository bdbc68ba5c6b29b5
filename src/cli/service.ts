import type { Config } from '../config.ts';
import { isLoopbackHost } from '../config/loopback-host.ts';
import { startService, type Role } from '../main.ts';
import { onStopSignals, signalExitCode } from './stop-signals.ts';

export async function runService(config: Config, role: Role): Promise<void> {
  const service = await startService(config, { role });
  onStopSignals(
    (signal) => {
      service.log.info({ signal, graceSeconds: config.shutdownGraceMs / 1000 }, 'shutting down: no new work; waiting for requests and SMTP replies under way');
      void service.close().then(() => process.exit(0));
    },
    (signal) => {
      service.log.warn({ signal }, 'second signal: exiting now');
      process.exit(signalExitCode(signal));
    },
  );
  if (role === 'worker' || role === 'all') service.log.info({ role }, 'worker started');
  if (service.inboundPort !== undefined) service.log.info({ port: service.inboundPort }, 'inbound listener running');
  if (service.app) service.log.info(`Paperboy is running at ${config.publicUrl}${!config.smtpUrl && isLoopbackHost(config.host) ? ' (captured mail: /dev/mail)' : ''}`);
}
