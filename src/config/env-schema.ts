import { z } from 'zod';
import { CronExpressionParser } from 'cron-parser';
import { isKnownTimeZone } from '../dates.ts';
import { parseDomainRates } from '../delivery/domain-pacing.ts';
import { parseDnsServers } from '../delivery/mx-groups.ts';
import { parseRateList } from './rate-list.ts';
import { parseTrustProxy } from './trust-proxy.ts';

const emptyAsUndefined = (value: unknown) => (value === '' ? undefined : value);
/** True for a cron expression BullMQ's job schedulers accept (they use the same parser). */
function isCronExpression(value: string): boolean {
  try {
    CronExpressionParser.parse(value, { strict: false });
    return value.trim().split(/\s+/).length >= 5;
  } catch {
    return false;
  }
}

const optionalString = z.preprocess(emptyAsUndefined, z.string().min(1).optional());
const optionalUrl = z.preprocess(emptyAsUndefined, z.url().optional());

const rateList = z.string().refine((v) => parseRateList(v) !== undefined, 'a list of MAX/WINDOW such as "5/1m,30/1d"');

export const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
  // Default: where this process listens (see defaultPublicUrl).
  PUBLIC_URL: z.preprocess(emptyAsUndefined, z.url().optional()),
  DATABASE_URL: z.url().default('postgres://postgres@127.0.0.1:5432/paperboy'),
  REDIS_URL: z.url().default('redis://127.0.0.1:6379'),
  QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9_{}-]+$/, 'letters, digits, _ - { } only').default('paperboy'),
  // REDIS_URL then names any one node of a Redis Cluster; the others are discovered from it.
  REDIS_CLUSTER: z.enum(['true', 'false']).default('false'),
  SMTP_URL: optionalUrl,
  DEV_SMTP_PORT: z.coerce.number().int().min(0).max(65535).default(1025),
  MAIL_FROM: z.string().min(3).default('Paperboy <digest@localhost>'),
  LIST_ID: z.preprocess(emptyAsUndefined, z.string().regex(/^[A-Za-z0-9.-]+$/, 'a dot-atom such as papers.example.com').optional()),
  SECRET: optionalString,
  // The secret before the last rotation: links signed with it still verify during the grace period.
  SECRET_PREVIOUS: optionalString,
  // Optional end of that grace period (ISO 8601); after it SECRET_PREVIOUS is ignored.
  SECRET_PREVIOUS_UNTIL: z.preprocess(emptyAsUndefined, z.iso.datetime({ offset: true }).optional()),
  ADMIN_TOKEN: z.preprocess(emptyAsUndefined, z.string().optional()),
  // DKIM signing in the app (RFC 6376, RFC 8463): all three or none.
  DKIM_DOMAIN: z.preprocess(emptyAsUndefined, z.string().regex(/^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i, 'a domain name such as example.com').optional()),
  DKIM_SELECTOR: z.preprocess(emptyAsUndefined, z.string().regex(/^[a-z0-9][a-z0-9._-]*(,[a-z0-9][a-z0-9._-]*)?$/i, 'a selector, or two separated by a comma (one per key)').optional()),
  DKIM_PRIVATE_KEY: optionalString,
  // VERP return path and mailto: unsubscribe address, read by the inbound listener (src/inbound/); off when unset.
  BOUNCE_DOMAIN: z.preprocess(emptyAsUndefined, z.string().regex(/^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i, 'a domain name such as bounces.example.com').optional()),
  BOUNCE_LOCAL: z.string().regex(/^[a-z0-9](?:[a-z0-9._-]{0,30}[a-z0-9])?$/i, 'letters, digits, . _ - (no +), up to 32').default('bounces'),
  // The inbound mail listener (`paperboy inbound`, and `all` when BOUNCE_DOMAIN is set): the
  // bounce domain's MX points here. Port 25 needs privileges; 2525 behind a port forward is usual.
  INBOUND_PORT: z.coerce.number().int().min(0).max(65535).default(2525),
  INBOUND_HOST: z.preprocess(emptyAsUndefined, z.string().min(1).optional()),
  INBOUND_MAX_BYTES: z.coerce.number().int().min(1024).max(100 * 1024 * 1024).default(10 * 1024 * 1024),
  // Messages accepted per connecting IP, a list like the other rate limits.
  INBOUND_RATE_LIMIT: rateList.default('300/1m,5000/1d'),
  // How long a report's raw message is kept (it is personal data); what was done with it stays.
  INBOUND_RAW_DAYS: z.coerce.number().min(0).max(3650).default(30),
  // How often the listener's processor looks for reports left unprocessed (a crash, an error).
  INBOUND_SWEEP_SECONDS: z.coerce.number().min(0.2).max(3600).default(30),
  // STARTTLS on the listener (src/inbound/tls-settings.ts): PEM text or file paths, both or neither.
  INBOUND_TLS_KEY: optionalString,
  INBOUND_TLS_CERT: optionalString,
  // Webhooks of hosted relays (POST /webhooks/mailgun, /webhooks/postmark); each off when unset.
  MAILGUN_WEBHOOK_SIGNING_KEY: z.preprocess(emptyAsUndefined, z.string().min(16, 'at least 16 characters').optional()),
  // Accepted as the password of HTTP basic auth (any user) or as ?token= (Postmark lets either be set in the URL).
  POSTMARK_WEBHOOK_TOKEN: z.preprocess(emptyAsUndefined, z.string().min(16, 'at least 16 characters').optional()),
  // Amazon SES through SNS (POST /webhooks/ses): the topic ARNs whose notifications are accepted; off when unset.
  SES_SNS_TOPIC_ARNS: z.preprocess(emptyAsUndefined, z.string().optional()),
  // Tests only (ignored unless NODE_ENV=test): the host pattern allowed for SNS certificate and
  // subscription URLs instead of sns.<region>.amazonaws.com, and a CA file for their local server.
  SNS_TEST_HOST_PATTERN: z.preprocess(emptyAsUndefined, z.string().optional()),
  SNS_TEST_CA_FILE: z.preprocess(emptyAsUndefined, z.string().optional()),
  SEND_RATE: z.coerce.number().positive().default(50),
  SMTP_MAX_CONNECTIONS: z.coerce.number().int().min(1).max(100).default(5),
  // Pace per receiving provider (src/delivery/domain-pacing.ts): "google=20,microsoft=10,slow.example=5"
  // messages/second per group (a provider, or a domain); groups not named get SEND_RATE.
  DOMAIN_RATES: z.string().optional().superRefine((text, ctx) => {
    try {
      parseDomainRates(text);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message });
    }
  }),
  // A 421 / 4.7.x "slow down" multiplies that group's rate by this; it climbs back over DOMAIN_RECOVERY_SECONDS.
  DOMAIN_SLOWDOWN_FACTOR: z.coerce.number().min(0.05).max(0.95).default(0.5),
  DOMAIN_RECOVERY_SECONDS: z.coerce.number().min(1).max(86_400).default(300),
  // Custom domains paced with their MX provider (e.g. a Google Workspace domain with google), looked up on DNS_SERVERS.
  DOMAIN_MX_GROUPING: z.enum(['true', 'false']).default('true'),
  // The DNS servers for those lookups ("127.0.0.1:53,10.0.0.2"); the system's when unset.
  DNS_SERVERS: z.preprocess(emptyAsUndefined, z.string().optional()).superRefine((text, ctx) => {
    try {
      parseDnsServers(text);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message });
    }
  }),
  // Absolute SMTP deadlines: one reply, and one whole transaction (a dripping relay cannot hang a send).
  SMTP_COMMAND_TIMEOUT_SECONDS: z.coerce.number().min(0.1).max(600).default(60),
  SMTP_TRANSACTION_TIMEOUT_SECONDS: z.coerce.number().min(0.1).max(1800).default(120),
  // Delivery engine: retries, batches, crash detection and the policy brake (see src/delivery).
  SEND_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(5),
  SEND_RETRY_DELAY_MS: z.coerce.number().int().min(10).default(30_000),
  // The backoff doubles from SEND_RETRY_DELAY_MS up to this; a row gives up only once it has used
  // SEND_MAX_ATTEMPTS and has been failing for SEND_RETRY_WINDOW_MINUTES (an outage costs time).
  SEND_RETRY_MAX_DELAY_MS: z.coerce.number().int().min(10).default(900_000),
  SEND_RETRY_WINDOW_MINUTES: z.coerce.number().min(0).max(7 * 24 * 60).default(360),
  // On SIGTERM / Ctrl-C: how long replies to messages under way are awaited (keep it under the
  // orchestrator's stop timeout; docker-compose.yml's stop_grace_period is 30 s).
  SHUTDOWN_GRACE_SECONDS: z.coerce.number().min(0).max(3600).default(25),
  SEND_BATCH_SIZE: z.coerce.number().int().min(1).max(10_000).default(500),
  DELIVERY_LEASE_SECONDS: z.coerce.number().min(1).default(60),
  RECONCILE_INTERVAL_SECONDS: z.coerce.number().min(0.2).default(30),
  POLICY_PAUSE_THRESHOLD: z.coerce.number().int().min(1).default(20),
  // A run's bounce and complaint budget (src/delivery/run-budget.ts): past a rate, once enough rows
  // count, the run pauses. 0.3% complaints is Gmail's and Yahoo's published bulk sender limit.
  RUN_MAX_BOUNCE_RATE: z.coerce.number().min(0).max(1).default(0.05),
  RUN_BOUNCE_MIN_ATTEMPTS: z.coerce.number().int().min(1).default(200),
  RUN_MAX_COMPLAINT_RATE: z.coerce.number().min(0).max(1).default(0.003),
  RUN_COMPLAINT_MIN_SENT: z.coerce.number().int().min(1).default(1000),
  JOB_LOCK_SECONDS: z.coerce.number().min(1).default(30),
  SOFT_BOUNCE_LIMIT: z.coerce.number().int().min(1).default(3),
  SOFT_BOUNCE_DAYS: z.coerce.number().min(0).default(7),
  // Unset (with DIGEST_CRON): readers get their digest at their own hour only (the hourly tick).
  DIGEST_HOUR: z.preprocess(emptyAsUndefined, z.coerce.number().int().min(0).max(23).optional()),
  DIGEST_TZ: z.string().default('UTC').refine(isKnownTimeZone, 'an IANA time zone such as Europe/Berlin'),
  // When the daily digest goes out, as a cron expression in DIGEST_TZ (5 fields, or 6 with seconds
  // first); overrides DIGEST_HOUR, e.g. "30 6 * * 1-5" for 06:30 on weekdays.
  DIGEST_CRON: z.preprocess(emptyAsUndefined, z.string().refine(isCronExpression, 'a cron expression such as "0 8 * * *" (minute hour day month weekday)').optional()),
  // A digest whose scheduled time passed without one (Redis lost its scheduler, no worker was up)
  // is sent late if it is at most this many hours late (0: never caught up); only the latest one.
  DIGEST_CATCH_UP_HOURS: z.coerce.number().min(0).max(24).optional(),
  // How often a worker re-creates its schedules in Redis and looks for a missed digest.
  SCHEDULE_CHECK_SECONDS: z.coerce.number().min(0.2).max(3600).default(60),
  DIGEST_MAX_PAPERS: z.coerce.number().int().min(1).max(50).default(10),
  // How long the archive list and the edition feeds, and each topic feed, are served from memory.
  WEB_CACHE_SECONDS: z.coerce.number().int().min(0).max(3600).default(10),
  TOPIC_FEED_CACHE_SECONDS: z.coerce.number().int().min(0).max(3600).default(60),
  HF_API_URL: z.url().default('https://huggingface.co'),
  ARXIV_API_URL: z.url().default('https://export.arxiv.org'),
  HF_TOKEN: optionalString,
  INGEST_SCHEDULE: z.preprocess(emptyAsUndefined, z.enum(['true', 'false']).optional()),
  INGEST_INTERVAL_HOURS: z.coerce.number().min(0.25).max(24).default(3),
  INGEST_DAYS: z.coerce.number().int().min(1).max(31).default(8),
  LOAD_SAMPLE_DATA: z.preprocess(emptyAsUndefined, z.enum(['true', 'false']).optional()),
  // Behind a load balancer: how far to trust X-Forwarded-For (a hop count, or proxy addresses).
  TRUST_PROXY: z.string().default('false').refine((v) => parseTrustProxy(v) !== undefined, 'false, a hop count, or a comma-separated list of proxy addresses and CIDR ranges'),
  // Host names the API answers for besides PUBLIC_URL's and loopback (DNS rebinding defence).
  ALLOWED_HOSTS: z.string().default(''),
  // Whole-request limit: headers and body must arrive within it.
  REQUEST_TIMEOUT_SECONDS: z.coerce.number().min(1).max(600).default(30),
  // Rate limits, each a list of "MAX/WINDOW" such as "5/1m,30/1d" (windows: s, m, h, d).
  RATE_LIMIT_NAMESPACE: z.string().regex(/^[A-Za-z0-9:_{}-]+$/).default('paperboy-rl'),
  RATE_LIMIT_SUBSCRIBE_IP: rateList.default('5/1m,30/1d'),
  RATE_LIMIT_SUBSCRIBE_ADDRESS: rateList.default('5/1h,10/1d'),
  RATE_LIMIT_TOKEN_IP: rateList.default('60/1m'),
  RATE_LIMIT_ONE_CLICK_TOKEN: rateList.default('10/1m'),
  RATE_LIMIT_ONE_CLICK_IP: rateList.default('3000/1m'),
  RATE_LIMIT_ADMIN_IP: rateList.default('60/1m'),
  // Sign-in attempts at the admin console per client address (the token is the only credential).
  RATE_LIMIT_ADMIN_SIGN_IN: rateList.default('5/1m,30/1d'),
  // How long an admin console session lasts after signing in (absolute, not sliding).
  ADMIN_SESSION_HOURS: z.coerce.number().positive().max(24 * 7).default(12),
  // Confirmation emails sent per hour across all addresses (0: no cap): protects third parties and
  // the sending reputation from sign-up bombing with many addresses from many IPs.
  CONFIRMATION_MAX_PER_HOUR: z.coerce.number().int().min(0).default(500),
  // Right after confirming, a reader gets the latest edition at once (once per person and edition).
  WELCOME_EDITION: z.enum(['true', 'false']).default('true'),
  // Time trap for the HTML form: faster than this is a bot; 0 turns the trap off.
  FORM_MIN_FILL_SECONDS: z.coerce.number().min(0).max(600).default(2),
  FORM_MAX_AGE_HOURS: z.coerce.number().positive().max(24 * 30).default(24),
  // A separate plain HTTP port for /metrics, /healthz and /readyz (the worker role's only listener).
  METRICS_PORT: z.preprocess(emptyAsUndefined, z.coerce.number().int().min(0).max(65535).optional()),
  METRICS_TOKEN: z.preprocess(emptyAsUndefined, z.string().min(16, 'at least 16 characters').optional()),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type Env = z.input<typeof envSchema>;
