import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { z } from 'zod';
import { CronExpressionParser } from 'cron-parser';
import { isKnownTimeZone } from './dates.ts';
import { MAKE_A_SECRET, secretWeakness } from './secret-strength.ts';
import { parseInboundTls, type InboundTls } from './inbound/tls-settings.ts';
import { SNS_HOSTS, type SnsSettings } from './inbound/webhooks/sns.ts';
import { parseDkimKey, splitPemKeys, type DkimConfig } from './delivery/dkim.ts';
import type { RunBudgetSettings } from './delivery/run-budget.ts';
import { DEFAULT_PROVIDER_RATES, parseDomainRates, type DomainPacingSettings } from './delivery/domain-pacing.ts';
import { DEFAULT_MX_GROUPING, parseDnsServers } from './delivery/mx-groups.ts';

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

export interface RateLimit {
  readonly max: number;
  readonly windowMs: number;
}

const windowUnits: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses "5/1m,30/1d" into limits; undefined when any part is malformed. */
export function parseRateList(value: string): RateLimit[] | undefined {
  const limits: RateLimit[] = [];
  for (const part of value.split(',').map((p) => p.trim()).filter(Boolean)) {
    const match = /^(\d{1,9})\/(\d{0,6})([smhd])$/.exec(part);
    if (!match) return undefined;
    const max = Number(match[1]);
    const windowMs = Number(match[2] || '1') * windowUnits[match[3]!]!;
    if (max < 1 || windowMs < 1000) return undefined;
    limits.push({ max, windowMs });
  }
  return limits.length > 0 ? limits : undefined;
}

const rateList = z.string().refine((v) => parseRateList(v) !== undefined, 'a list of MAX/WINDOW such as "5/1m,30/1d"');

/**
 * TRUST_PROXY: `false`, a hop count, or the proxies' addresses and CIDR ranges (also the names
 * loopback, linklocal, uniquelocal). `true` trusts every X-Forwarded-For entry, so a client picks
 * its own address: accepted for compatibility, warned about at start (startupWarnings).
 * Undefined when an entry of a list is neither an address, a range nor one of those names.
 */
export function parseTrustProxy(value: string): boolean | number | string[] | undefined {
  const v = value.trim().toLowerCase();
  if (v === '' || v === 'false' || v === '0') return false;
  if (v === 'true') return true;
  if (/^\d+$/.test(v)) return Number(v);
  const entries = value.split(',').map((e) => e.trim()).filter(Boolean);
  return entries.every(isProxyAddressEntry) ? entries : undefined;
}

function isProxyAddressEntry(entry: string): boolean {
  if (['loopback', 'linklocal', 'uniquelocal'].includes(entry)) return true;
  const [address, prefix, ...rest] = entry.split('/');
  const family = isIP(address ?? '');
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  // A prefix length, or an IPv4 netmask such as 255.255.255.0.
  if (/^\d{1,3}$/.test(prefix)) return Number(prefix) <= (family === 4 ? 32 : 128);
  return family === 4 && isIP(prefix) === 4;
}

const envSchema = z.object({
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

export interface Config {
  readonly env: 'development' | 'production' | 'test';
  readonly port: number;
  readonly host: string;
  /** Base of every link in mail and pages, without a trailing slash. */
  readonly publicUrl: string;
  readonly databaseUrl: string;
  readonly redisUrl: string;
  readonly queuePrefix: string;
  readonly redisCluster: boolean;
  /** Undefined means: capture mail locally (development only). */
  readonly smtpUrl: string | undefined;
  readonly devSmtpPort: number;
  readonly mailFrom: { name: string; address: string };
  readonly listId: string;
  /** Undefined: messages go out unsigned (a relay may sign them). */
  readonly dkim: DkimConfig | undefined;
  /** VERP return path and the mailto: unsubscribe address; undefined: MAIL_FROM is the return path. */
  readonly bounce: { readonly local: string; readonly domain: string } | undefined;
  readonly inbound: {
    readonly port: number;
    readonly host: string;
    readonly maxBytes: number;
    readonly rateLimits: readonly RateLimit[];
    readonly rawRetentionMs: number;
    readonly sweepMs: number;
    /** Undefined: no STARTTLS offered. */
    readonly tls: InboundTls | undefined;
  };
  readonly webhooks: { readonly mailgunSigningKey: string | undefined; readonly postmarkToken: string | undefined; readonly sns: SnsSettings | undefined };
  readonly secret: string;
  /**
   * No SECRET was given (development, tests): `secret` is a stand-in until the process has read
   * the one kept in the database (src/db/development-secret.ts), shared by every process.
   */
  readonly secretFromDatabase: boolean;
  /** Still accepted when verifying links, never used to sign. */
  readonly secretPrevious: string | undefined;
  /** When the grace period of secretPrevious ends (undefined: until it is removed). */
  readonly secretPreviousUntil: Date | undefined;
  readonly adminToken: string | undefined;
  readonly adminSessionMs: number;
  readonly sendRate: number;
  readonly smtpMaxConnections: number;
  /** Absolute deadline for one SMTP reply, and for one whole transaction or connection set-up. */
  readonly smtpCommandTimeoutMs: number;
  readonly smtpTransactionTimeoutMs: number;
  /** On SIGTERM / Ctrl-C, how long a sending process waits for replies under way (src/app/shutdown.ts). */
  readonly shutdownGraceMs: number;
  readonly delivery: {
    /** SMTP attempts per ledger row before a transient failure becomes `failed`. */
    readonly maxAttempts: number;
    /** Base of the exponential backoff (with jitter) between attempts of one row. */
    readonly retryDelayMs: number;
    /** Cap of that backoff (the jitter may add up to half of it again). */
    readonly retryMaxDelayMs: number;
    /** A row gives up on transient failures only once it has been failing this long (and used its attempts). */
    readonly retryWindowMs: number;
    readonly batchSize: number;
    /** A `sending` row whose worker has not sent a heartbeat for this long becomes `unknown`. */
    readonly leaseMs: number;
    /** A row `sending` for this long is swept to `unknown` even if its worker still beats. */
    readonly staleClaimMs: number;
    readonly reconcileIntervalMs: number;
    /** 5.7.x rejections in one send run after which the run pauses. */
    readonly policyPauseThreshold: number;
    readonly jobLockMs: number;
    readonly softBounceLimit: number;
    readonly softBounceDays: number;
  };
  /** Bounce and complaint rates past which a send run pauses (src/delivery/run-budget.ts). */
  readonly runBudget: RunBudgetSettings;
  /** Pace per receiving provider or domain (src/delivery/domain-pacing.ts). */
  readonly domainPacing: DomainPacingSettings;
  readonly digestHour: number;
  readonly digestTimeZone: string;
  /** The daily digest's cron pattern (DIGEST_CRON, else DIGEST_HOUR o'clock), in digestTimeZone. */
  readonly digestCron: string;
  /**
   * DIGEST_HOUR or DIGEST_CRON given: daily readers get one fixed daily send at that time instead
   * of their own hour; the hourly ticks serve weekly readers (src/app/schedules.ts).
   */
  readonly fixedDigestSchedule: boolean;
  /** How late a missed daily digest may still be sent (0: never). */
  readonly digestCatchUpMs: number;
  /** Interval of the worker's schedule keeper (src/app/schedules.ts). */
  readonly scheduleCheckMs: number;
  readonly digestMaxPapers: number;
  readonly web: { readonly cacheMs: number; readonly topicFeedCacheMs: number };
  readonly hfApiUrl: string;
  readonly arxivApiUrl: string;
  readonly hfToken: string | undefined;
  /** Whether the worker role polls the paper sources on a schedule. */
  readonly ingestSchedule: boolean;
  /** Send the latest edition right after a confirmation (src/delivery/welcome.ts). */
  readonly welcomeEdition: boolean;
  readonly ingestIntervalHours: number;
  /** Days per poll: today and the days before it. */
  readonly ingestDays: number;
  readonly loadSampleData: boolean;
  readonly logLevel: string;
  /** Undefined: /metrics is served on PORT by the roles with HTTP, and the worker role has no listener. */
  readonly metricsPort: number | undefined;
  /** Bearer token required by /metrics when set. */
  readonly metricsToken: string | undefined;
  readonly trustProxy: boolean | number | string[];
  /** Lower-case host names (no port) accepted in Host besides PUBLIC_URL's and loopback. */
  readonly allowedHosts: readonly string[];
  readonly requestTimeoutMs: number;
  readonly rateLimits: {
    readonly namespace: string;
    readonly subscribeIp: readonly RateLimit[];
    readonly subscribeAddress: readonly RateLimit[];
    readonly tokenIp: readonly RateLimit[];
    readonly oneClickToken: readonly RateLimit[];
    readonly oneClickIp: readonly RateLimit[];
    readonly adminIp: readonly RateLimit[];
    readonly adminSignIn: readonly RateLimit[];
  };
  readonly form: { readonly minFillMs: number; readonly maxAgeMs: number };
  readonly confirmationMaxPerHour: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parses a mailbox such as `Paperboy <digest@example.com>` or a bare address. */
export function parseMailbox(value: string): { name: string; address: string } | undefined {
  const withName = /^\s*"?([^"<>\r\n]*?)"?\s*<([^<>\s@]+@[^<>\s@]+)>\s*$/.exec(value);
  if (withName) return { name: withName[1]!.trim(), address: withName[2]! };
  const bare = /^\s*([^<>\s@,]+@[^<>\s@,]+)\s*$/.exec(value);
  if (bare) return { name: '', address: bare[1]! };
  return undefined;
}

/**
 * DKIM_PRIVATE_KEY holds one or two PEM keys (RSA ≥ 2048 bits and/or Ed25519; `\n` escapes
 * allowed), or the path of a file holding them; DKIM_SELECTOR names one selector per key.
 */
function parseDkimSettings(
  e: { DKIM_DOMAIN?: string | undefined; DKIM_SELECTOR?: string | undefined; DKIM_PRIVATE_KEY?: string | undefined },
  mailFrom: { address: string } | undefined,
  problems: string[],
): DkimConfig | undefined {
  const given = [e.DKIM_DOMAIN, e.DKIM_SELECTOR, e.DKIM_PRIVATE_KEY].filter((v) => v !== undefined).length;
  if (given === 0) return undefined;
  if (given < 3) {
    problems.push('DKIM_DOMAIN, DKIM_SELECTOR, DKIM_PRIVATE_KEY: set all three to sign, or none');
    return undefined;
  }
  let text = e.DKIM_PRIVATE_KEY!;
  if (!text.includes('-----BEGIN')) {
    try {
      text = readFileSync(text, 'utf8');
    } catch {
      problems.push('DKIM_PRIVATE_KEY: neither a PEM key nor a readable key file');
      return undefined;
    }
  }
  const pems = splitPemKeys(text);
  const selectors = e.DKIM_SELECTOR!.split(',');
  if (pems.length === 0 || pems.length > 2) problems.push(`DKIM_PRIVATE_KEY: expected one or two PEM private keys, found ${pems.length}`);
  else if (selectors.length !== pems.length) problems.push(`DKIM_SELECTOR: ${pems.length} keys need ${pems.length} selectors (comma-separated, in key order)`);
  pems.forEach((pem, i) => {
    try {
      parseDkimKey(pem);
    } catch (error) {
      problems.push(`DKIM_PRIVATE_KEY: key ${i + 1} is ${(error as Error).message}`);
    }
  });
  const domain = e.DKIM_DOMAIN!.toLowerCase();
  const fromDomain = mailFrom?.address.slice(mailFrom.address.lastIndexOf('@') + 1).toLowerCase();
  // DMARC alignment (RFC 7489 §3.1.1, relaxed): d= must be the From domain or a parent of it.
  if (fromDomain && fromDomain !== domain && !fromDomain.endsWith(`.${domain}`)) {
    problems.push(`DKIM_DOMAIN: ${domain} does not align with the MAIL_FROM domain ${fromDomain} (it must be that domain or a parent of it)`);
  }
  return Object.freeze({ domain, keys: Object.freeze(pems.map((privateKey, i) => Object.freeze({ selector: selectors[i] ?? '', privateKey }))) });
}

/** The secrets a link or form signature may use now: the current one, then the previous one in its grace period. */
export function verificationSecrets(config: Pick<Config, 'secret' | 'secretPrevious' | 'secretPreviousUntil'>, now: number = Date.now()): string[] {
  const previousValid = config.secretPrevious !== undefined && (config.secretPreviousUntil === undefined || now < config.secretPreviousUntil.getTime());
  return previousValid ? [config.secret, config.secretPrevious!] : [config.secret];
}

const trimSlash = (url: string) => url.replace(/\/+$/, '');

/**
 * Where a browser on this machine reaches the API: the bound host (a wildcard bind is reached as
 * localhost) and port, so `PORT=3111` puts 3111 in every link without also setting PUBLIC_URL.
 */
export function defaultPublicUrl(host: string, port: number): string {
  const wildcard = host === '0.0.0.0' || host === '::' || host === '[::]';
  const name = wildcard || host === '127.0.0.1' || host === '::1' ? 'localhost' : host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return port === 80 ? `http://${name}` : `http://${name}:${port}`;
}

/** Problems of a secret-like variable; production also refuses guessable values. */
function secretProblems(name: string, value: string | undefined, production: boolean, minLength: number): string[] {
  if (value === undefined) return [];
  if (production) {
    const weakness = secretWeakness(value);
    return weakness ? [`${name}: ${weakness}; ${MAKE_A_SECRET}`] : [];
  }
  return value.length < minLength ? [`${name}: at least ${minLength} characters; ${MAKE_A_SECRET}`] : [];
}

/**
 * Reads the environment once. Modules never read process.env themselves: entrypoints call this
 * and pass the frozen result down.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => `${issue.path.join('.') || '(environment)'}: ${issue.message}`),
    );
  }
  const e = parsed.data;
  const problems: string[] = [];
  const mailFrom = parseMailbox(e.MAIL_FROM);
  if (!mailFrom) problems.push('MAIL_FROM: expected "Name <address@domain>" or a bare address');
  const production = e.NODE_ENV === 'production';
  if (production && !e.SECRET) problems.push(`SECRET: required when NODE_ENV=production; ${MAKE_A_SECRET}`);
  problems.push(
    ...secretProblems('SECRET', e.SECRET, production, 32),
    ...secretProblems('SECRET_PREVIOUS', e.SECRET_PREVIOUS, production, 32),
    ...secretProblems('ADMIN_TOKEN', e.ADMIN_TOKEN, production, 16),
  );
  if (e.NODE_ENV === 'production' && !e.SMTP_URL) problems.push('SMTP_URL: required when NODE_ENV=production');
  const dkim = parseDkimSettings(e, mailFrom, problems);
  const inboundTls = parseInboundTls(e, problems);
  // BullMQ's scripts touch several keys of a queue at once; on a Cluster they must share a slot.
  if (e.REDIS_CLUSTER === 'true' && !/\{[^{}]+\}/.test(e.QUEUE_PREFIX)) {
    problems.push(`QUEUE_PREFIX: on Redis Cluster it needs a hash tag so each queue's keys share a slot, e.g. QUEUE_PREFIX={${e.QUEUE_PREFIX.replace(/[{}]/g, '') || 'paperboy'}}`);
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const publicUrl = trimSlash(e.PUBLIC_URL ?? defaultPublicUrl(e.HOST, e.PORT));
  return Object.freeze({
    env: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    publicUrl,
    databaseUrl: e.DATABASE_URL,
    redisUrl: e.REDIS_URL,
    queuePrefix: e.QUEUE_PREFIX,
    redisCluster: e.REDIS_CLUSTER === 'true',
    smtpUrl: e.SMTP_URL,
    devSmtpPort: e.DEV_SMTP_PORT,
    mailFrom: mailFrom!,
    listId: e.LIST_ID ?? `digest.${new URL(publicUrl).hostname}`,
    dkim,
    bounce: e.BOUNCE_DOMAIN ? Object.freeze({ local: e.BOUNCE_LOCAL.toLowerCase(), domain: e.BOUNCE_DOMAIN.toLowerCase() }) : undefined,
    inbound: Object.freeze({
      port: e.INBOUND_PORT,
      host: e.INBOUND_HOST ?? e.HOST,
      maxBytes: e.INBOUND_MAX_BYTES,
      rateLimits: parseRateList(e.INBOUND_RATE_LIMIT)!,
      rawRetentionMs: e.INBOUND_RAW_DAYS * 86_400_000,
      sweepMs: e.INBOUND_SWEEP_SECONDS * 1000,
      tls: inboundTls,
    }),
    webhooks: Object.freeze({
      mailgunSigningKey: e.MAILGUN_WEBHOOK_SIGNING_KEY,
      postmarkToken: e.POSTMARK_WEBHOOK_TOKEN,
      sns: e.SES_SNS_TOPIC_ARNS
        ? Object.freeze({
            topicArns: Object.freeze(e.SES_SNS_TOPIC_ARNS.split(',').map((a) => a.trim()).filter(Boolean)),
            hostPattern: e.NODE_ENV === 'test' && e.SNS_TEST_HOST_PATTERN ? new RegExp(e.SNS_TEST_HOST_PATTERN) : SNS_HOSTS,
            ca: e.NODE_ENV === 'test' && e.SNS_TEST_CA_FILE ? readFileSync(e.SNS_TEST_CA_FILE, 'utf8') : undefined,
          })
        : undefined,
    }),
    // Replaced by the database's development secret when a process opens the database; random
    // until then so that nothing signs with a predictable value.
    secret: e.SECRET ?? randomBytes(32).toString('hex'),
    secretFromDatabase: e.SECRET === undefined,
    secretPrevious: e.SECRET_PREVIOUS,
    secretPreviousUntil: e.SECRET_PREVIOUS_UNTIL ? new Date(e.SECRET_PREVIOUS_UNTIL) : undefined,
    adminToken: e.ADMIN_TOKEN,
    adminSessionMs: e.ADMIN_SESSION_HOURS * 3_600_000,
    sendRate: e.SEND_RATE,
    smtpMaxConnections: e.SMTP_MAX_CONNECTIONS,
    smtpCommandTimeoutMs: e.SMTP_COMMAND_TIMEOUT_SECONDS * 1000,
    smtpTransactionTimeoutMs: e.SMTP_TRANSACTION_TIMEOUT_SECONDS * 1000,
    shutdownGraceMs: e.SHUTDOWN_GRACE_SECONDS * 1000,
    delivery: Object.freeze({
      maxAttempts: e.SEND_MAX_ATTEMPTS,
      retryDelayMs: e.SEND_RETRY_DELAY_MS,
      retryMaxDelayMs: Math.max(e.SEND_RETRY_MAX_DELAY_MS, e.SEND_RETRY_DELAY_MS),
      retryWindowMs: e.SEND_RETRY_WINDOW_MINUTES * 60_000,
      batchSize: e.SEND_BATCH_SIZE,
      leaseMs: e.DELIVERY_LEASE_SECONDS * 1000,
      // No age-based sweep of a live worker's claims: a row claimed but still waiting its turn
      // behind a slow relay was never sent, and calling it `unknown` would lose a recipient. A live
      // worker bounds each attempt by the SMTP deadlines; a dead one is found by its lease.
      staleClaimMs: Number.POSITIVE_INFINITY,
      reconcileIntervalMs: e.RECONCILE_INTERVAL_SECONDS * 1000,
      policyPauseThreshold: e.POLICY_PAUSE_THRESHOLD,
      jobLockMs: e.JOB_LOCK_SECONDS * 1000,
      softBounceLimit: e.SOFT_BOUNCE_LIMIT,
      softBounceDays: e.SOFT_BOUNCE_DAYS,
    }),
    domainPacing: Object.freeze({
      rates: Object.freeze({ ...DEFAULT_PROVIDER_RATES, ...parseDomainRates(e.DOMAIN_RATES) }),
      defaultRate: e.SEND_RATE,
      slowDownFactor: e.DOMAIN_SLOWDOWN_FACTOR,
      recoveryMs: e.DOMAIN_RECOVERY_SECONDS * 1000,
      mx: e.DOMAIN_MX_GROUPING === 'true' ? Object.freeze({ ...DEFAULT_MX_GROUPING, servers: parseDnsServers(e.DNS_SERVERS) }) : undefined,
    }),
    runBudget: Object.freeze({
      maxBounceRate: e.RUN_MAX_BOUNCE_RATE,
      bounceMinAttempts: e.RUN_BOUNCE_MIN_ATTEMPTS,
      maxComplaintRate: e.RUN_MAX_COMPLAINT_RATE,
      complaintMinSent: e.RUN_COMPLAINT_MIN_SENT,
    }),
    digestHour: e.DIGEST_HOUR ?? 8,
    digestTimeZone: e.DIGEST_TZ,
    digestCron: e.DIGEST_CRON ?? `0 0 ${e.DIGEST_HOUR ?? 8} * * *`,
    fixedDigestSchedule: e.DIGEST_HOUR !== undefined || e.DIGEST_CRON !== undefined,
    // Off by default in tests: a catch-up there would mail the real yesterday's edition in the
    // middle of an unrelated test that happens to have papers for it.
    digestCatchUpMs: (e.DIGEST_CATCH_UP_HOURS ?? (e.NODE_ENV === 'test' ? 0 : 12)) * 3_600_000,
    scheduleCheckMs: e.SCHEDULE_CHECK_SECONDS * 1000,
    digestMaxPapers: e.DIGEST_MAX_PAPERS,
    web: Object.freeze({ cacheMs: e.WEB_CACHE_SECONDS * 1000, topicFeedCacheMs: e.TOPIC_FEED_CACHE_SECONDS * 1000 }),
    hfApiUrl: trimSlash(e.HF_API_URL),
    arxivApiUrl: trimSlash(e.ARXIV_API_URL),
    hfToken: e.HF_TOKEN,
    // Tests must never reach the public APIs; everywhere else live papers are the point.
    ingestSchedule: e.INGEST_SCHEDULE ? e.INGEST_SCHEDULE === 'true' : e.NODE_ENV !== 'test',
    welcomeEdition: e.WELCOME_EDITION === 'true',
    ingestIntervalHours: e.INGEST_INTERVAL_HOURS,
    ingestDays: e.INGEST_DAYS,
    // Demo papers help a first run; a production list starts from live ingestion instead.
    loadSampleData: e.LOAD_SAMPLE_DATA ? e.LOAD_SAMPLE_DATA === 'true' : e.NODE_ENV !== 'production',
    logLevel: e.LOG_LEVEL,
    metricsPort: e.METRICS_PORT,
    metricsToken: e.METRICS_TOKEN,
    trustProxy: parseTrustProxy(e.TRUST_PROXY)!,
    allowedHosts: Object.freeze(e.ALLOWED_HOSTS.split(',').map((h) => h.trim().toLowerCase().replace(/\.$/, '')).filter(Boolean)),
    requestTimeoutMs: e.REQUEST_TIMEOUT_SECONDS * 1000,
    rateLimits: Object.freeze({
      namespace: e.RATE_LIMIT_NAMESPACE,
      subscribeIp: parseRateList(e.RATE_LIMIT_SUBSCRIBE_IP)!,
      subscribeAddress: parseRateList(e.RATE_LIMIT_SUBSCRIBE_ADDRESS)!,
      tokenIp: parseRateList(e.RATE_LIMIT_TOKEN_IP)!,
      oneClickToken: parseRateList(e.RATE_LIMIT_ONE_CLICK_TOKEN)!,
      oneClickIp: parseRateList(e.RATE_LIMIT_ONE_CLICK_IP)!,
      adminIp: parseRateList(e.RATE_LIMIT_ADMIN_IP)!,
      adminSignIn: parseRateList(e.RATE_LIMIT_ADMIN_SIGN_IN)!,
    }),
    form: Object.freeze({ minFillMs: e.FORM_MIN_FILL_SECONDS * 1000, maxAgeMs: e.FORM_MAX_AGE_HOURS * 3_600_000 }),
    confirmationMaxPerHour: e.CONFIRMATION_MAX_PER_HOUR,
  });
}

/** Host names (as URL.hostname gives them) that always reach this machine itself. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/\.$/, '');
  return h === 'localhost' || h === '::1' || h === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

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
