import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Config } from '../config.ts';
import { formatDoctorReport, runDoctor } from '../ops/doctor.ts';
import { UsageError } from './arguments.ts';

export async function doctor(config: Config, values: { 'relay-ip'?: string; dns?: string }): Promise<number> {
  const relayIp = values['relay-ip'];
  if (relayIp !== undefined && isIP(relayIp) === 0) throw new UsageError(`--relay-ip must be an IPv4 or IPv6 address, got "${relayIp}"`);
  const resolver = new Resolver({ timeout: 5000, tries: 2 });
  if (values.dns !== undefined) {
    try {
      resolver.setServers([values.dns]);
    } catch {
      throw new UsageError(`--dns must be an address with an optional port, such as 127.0.0.1:53, got "${values.dns}"`);
    }
  }
  const checks = await runDoctor(config, { resolver, relayIp });
  process.stdout.write(formatDoctorReport(checks));
  return checks.every((c) => c.ok) ? 0 : 1;
}
