import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { MAKE_A_SECRET } from './secret-strength.ts';
import { parseInboundTls, type InboundTls } from './inbound/tls-settings.ts';
import { SNS_HOSTS, type SnsSettings } from './inbound/webhooks/sns.ts';
import type { DkimConfig } from './delivery/dkim.ts';
import type { RunBudgetSettings } from './delivery/run-budget.ts';
import { DEFAULT_PROVIDER_RATES, parseDomainRates, type DomainPacingSettings } from './delivery/domain-pacing.ts';
import { DEFAULT_MX_GROUPING, parseDnsServers } from './delivery/mx-groups.ts';
import { envSchema } from './config/env-schema.ts';
import { parseRateList, type RateLimit } from './config/rate-list.ts';
import { parseTrustProxy } from './config/trust-proxy.ts';
import { parseMailbox } from './config/mailbox.ts';
import { parseDkimSettings } from './config/dkim-settings.ts';
import { secretProblems } from './config/secrets.ts';

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
