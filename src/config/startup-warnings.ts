import type { Config } from '../config.ts';
import { isLoopbackHost } from './loopback-host.ts';

/** Settings that work but put people at risk; logged loudly at start by every role. */
export function startupWarnings(config: Config): string[] {
  const warnings: string[] = [];
  if (config.env === 'production' && new URL(config.publicUrl).protocol !== 'https:') {
    warnings.push(
      `PUBLIC_URL is ${config.publicUrl}: links in mail carry tokens that unsubscribe, export and erase, and over plain http anyone on the path can read them. Serve Paperboy over https and set PUBLIC_URL to the https address.`,
    );
  }
  if (config.trustProxy === true) {
    warnings.push('TRUST_PROXY=true trusts every X-Forwarded-For entry, so any client can choose the address rate limits count against. Set the number of proxies in front of Paperboy (e.g. 1) or their addresses instead.');
  }
  if (config.env !== 'production' && !config.smtpUrl && !isLoopbackHost(config.host)) {
    warnings.push(`HOST=${config.host} is not a loopback address: /dev/mail (captured mail with confirmation links) is not served. Read captured mail with HOST=127.0.0.1, or set SMTP_URL.`);
  }
  return warnings;
}
