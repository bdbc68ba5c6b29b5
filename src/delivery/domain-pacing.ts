import { sql } from 'kysely';
import type { Executor } from '../db/database.ts';
import type { RedisConnection as Redis } from '../redis-connection.ts';
import type { MxGrouping, MxGroupingSettings } from './mx-groups.ts';
import type { SmtpFailure } from './smtp-errors.ts';

/*
 * Pacing per receiving provider. Large mailbox providers rate-limit a sender per provider, not per
 * relay: Gmail answers "421 4.7.0 Try again later" or "450 4.7.28 … rate limited" when one sender
 * pushes too fast, and keeps doing so for a while. So recipients are grouped by provider (domains
 * sharing one, e.g. gmail.com and googlemail.com, and custom domains whose MX is the provider's,
 * mx-groups.ts; any other domain is its own group), each group
 * has a token bucket in Redis shared by all workers (on top of the global SEND_RATE bucket,
 * send-rate.ts), and a slow-down reply halves that group's rate only (multiplicative decrease),
 * which then climbs back linearly (additive increase) over DOMAIN_RECOVERY_SECONDS.
 * Rows of a group with no token are not held in the batch: they go back to the queue with a
 * retry_at spread at the group's rate behind the group's rows already waiting, attempt not
 * counted, their SEND_RATE tokens given back, and the other groups carry on (sender.ts).
 */

/** The big providers' own domains: known without a DNS lookup. Custom domains go by their MX (mx-groups.ts). */
export const PROVIDER_DOMAINS: Readonly<Record<string, string>> = {
  'gmail.com': 'google',
  'googlemail.com': 'google',
  'outlook.com': 'microsoft',
  'hotmail.com': 'microsoft',
  'live.com': 'microsoft',
  'msn.com': 'microsoft',
  'hotmail.co.uk': 'microsoft',
  'outlook.de': 'microsoft',
  'yahoo.com': 'yahoo',
  'ymail.com': 'yahoo',
  'rocketmail.com': 'yahoo',
  'aol.com': 'yahoo',
  'yahoo.co.uk': 'yahoo',
  'yahoo.fr': 'yahoo',
  'yahoo.de': 'yahoo',
};

/**
 * Starting rates (messages/second) for the big providers: modest, as a sender without a track
 * record at a provider is throttled early. DOMAIN_RATES overrides them; other groups get SEND_RATE.
 */
export const DEFAULT_PROVIDER_RATES: Readonly<Record<string, number>> = { google: 20, microsoft: 10, yahoo: 10 };

export interface DomainPacingSettings {
  /** Messages/second per group name (a provider above, or a domain); others get `defaultRate`. */
  rates: Readonly<Record<string, number>>;
  defaultRate: number;
  /** A slow-down reply multiplies the group's current rate by this. */
  slowDownFactor: number;
  /** Milliseconds to climb back from the floor to the group's full rate. */
  recoveryMs: number;
  /** Custom domains grouped by their MX provider (mx-groups.ts); undefined: each domain on its own. */
  mx?: Readonly<MxGroupingSettings> | undefined;
}

const domainOf = (email: string) => email.slice(email.lastIndexOf('@') + 1).toLowerCase();

/**
 * The group of a recipient: its provider, else (given the MX cache) the provider its domain's MX
 * belongs to, else its domain (lower-cased). A domain named in DOMAIN_RATES (`rates`) keeps its
 * own group, as the operator asked for its own pace.
 */
export function domainGroup(email: string, mx?: Pick<MxGrouping, 'providerOf'>, rates: Readonly<Record<string, number>> = {}): string {
  const domain = domainOf(email);
  return PROVIDER_DOMAINS[domain] ?? (Object.hasOwn(rates, domain) ? domain : mx?.providerOf(domain)) ?? domain;
}

/** "google=20,slow.example=5" → { google: 20, 'slow.example': 5 }; throws with the bad part. */
export function parseDomainRates(text: string | undefined): Record<string, number> {
  const rates: Record<string, number> = {};
  for (const part of (text ?? '').split(',').map((p) => p.trim()).filter(Boolean)) {
    const match = /^([a-z0-9.-]+)=(\d+(?:\.\d+)?)$/i.exec(part);
    if (!match || Number(match[2]) <= 0) throw new Error(`"${part}" is not group=messages-per-second (e.g. google=20)`);
    rates[match[1]!.toLowerCase()] = Number(match[2]);
  }
  return rates;
}

/**
 * A "slow down" from the receiving side inside the transaction: 421 (RFC 5321 §4.2.2; a relay's
 * own 421 greeting is relay-wide instead, retry.ts) or any 4.7.x (RFC 3463: security or policy
 * status, which providers use for rate limiting, e.g. 4.7.28, 4.7.0).
 */
export function isSlowDown(failure: SmtpFailure): boolean {
  return failure.kind === 'transient' && failure.stage === 'transaction' && (failure.responseCode === 421 || failure.enhancedCode?.startsWith('4.7.') === true);
}

// One bucket per group with its own current rate. The rate recovers linearly with time since its
// last update; a slow-down multiplies it and empties the bucket. Burst is a fifth of a second, twice
// the global bucket's: a group at the full SEND_RATE never denies what the global bucket granted.
// `queued` counts the group's rows already deferred and not yet due, draining at the group's rate:
// new deferrals line up behind them, so each deferred row comes back in a slot of its own instead
// of all at the next token, to be deferred again (which kept send jobs busy re-deferring them).
const PACE = `
local max = tonumber(ARGV[1])
local want = tonumber(ARGV[2])
local recoverPerMs = tonumber(ARGV[3])
local slow = tonumber(ARGV[4])
local factor = tonumber(ARGV[5])
local floor = tonumber(ARGV[6])
local ttl = tonumber(ARGV[7])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local s = redis.call('HMGET', KEYS[1], 'tokens', 'ts', 'rate', 'queued')
local rate = tonumber(s[3]) or max
local ts = tonumber(s[2]) or now
local elapsed = math.max(0, now - ts)
rate = math.min(max, rate + elapsed * recoverPerMs)
local burst = math.max(1, math.ceil(rate / 5))
local tokens = tonumber(s[1]) or burst
tokens = math.min(burst, tokens + elapsed * rate / 1000)
local queued = math.max(0, (tonumber(s[4]) or 0) - elapsed * rate / 1000)
local granted = 0
local wait = 0
if slow == 1 then
  rate = math.max(floor, rate * factor)
  tokens = math.min(tokens, 0)
else
  granted = math.min(want, math.floor(tokens))
  if granted >= 1 then tokens = tokens - granted else granted = 0 end
  if granted < want then
    wait = math.ceil((1 - (tokens - math.floor(tokens)) + queued) * 1000 / rate)
    queued = queued + want - granted
  end
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'ts', string.format('%.17g', now), 'rate', string.format('%.17g', rate), 'queued', string.format('%.17g', queued))
redis.call('PEXPIRE', KEYS[1], ttl)
return {granted, wait, string.format('%.17g', rate)}
`;

type RedisWithPace = Redis & {
  paperboyPace(key: string, max: number, want: number, recoverPerMs: number, slow: number, factor: number, floor: number, ttl: number): Promise<[number, number, string]>;
};

export interface PacedRow {
  id: number;
  email: string;
}

export interface DomainPacer {
  /** The group a recipient is paced in (the MX cache as it is now). */
  group(email: string): string;
  /** Splits claimed rows into those that may go now and those deferred (ms from now), one Redis call per group. */
  admit<R extends PacedRow>(rows: readonly R[]): Promise<{ now: R[]; later: { row: R; delayMs: number; group: string }[] }>;
  /** The receiving side asked to slow down: the recipient's group only. */
  slowDown(email: string): Promise<number>;
  /** A group's current rate (messages/second), for reports and tests. */
  currentRate(group: string): Promise<number>;
}

export function createDomainPacer(redis: Redis, options: { keyPrefix: string; settings: DomainPacingSettings; mx?: MxGrouping | undefined }): DomainPacer {
  const r = redis as RedisWithPace;
  if (typeof r.paperboyPace !== 'function') redis.defineCommand('paperboyPace', { numberOfKeys: 1, lua: PACE });
  const { settings } = options;
  const maxOf = (group: string) => settings.rates[group] ?? settings.defaultRate;
  const call = (group: string, want: number, slow: boolean) => {
    const max = maxOf(group);
    const floor = Math.min(max, Math.max(0.1, max / 50));
    // The state lives through a whole recovery, so a slowed group does not reset by expiring.
    const ttl = Math.ceil(settings.recoveryMs + 60_000);
    return r.paperboyPace(`${options.keyPrefix}:${group}`, max, want, (max - floor) / Math.max(1, settings.recoveryMs), slow ? 1 : 0, settings.slowDownFactor, floor, ttl);
  };
  const { mx } = options;
  const group = (email: string) => domainGroup(email, mx, settings.rates);
  return {
    group,
    async admit(rows) {
      // Custom domains met for the first time are looked up here, all at once, bounded by a short timeout.
      if (mx) await mx.prepare(rows.map((row) => domainOf(row.email)).filter((d) => PROVIDER_DOMAINS[d] === undefined && !Object.hasOwn(settings.rates, d)));
      const groups = new Map<string, (typeof rows)[number][]>();
      for (const row of rows) {
        const name = group(row.email);
        const list = groups.get(name);
        if (list) list.push(row);
        else groups.set(name, [row]);
      }
      const now: (typeof rows)[number][] = [];
      const later: { row: (typeof rows)[number]; delayMs: number; group: string }[] = [];
      await Promise.all(
        [...groups].map(async ([group, members]) => {
          const [granted, waitMs, rate] = await call(group, members.length, false);
          now.push(...members.slice(0, granted));
          // Spread at the group's rate, so they come back paced instead of all at once.
          const gap = 1000 / Math.max(0.1, Number(rate));
          members.slice(granted).forEach((row, i) => later.push({ row, group, delayMs: Math.ceil(waitMs + i * gap) }));
        }),
      );
      return { now, later };
    },
    async slowDown(email) {
      const [, , rate] = await call(group(email), 0, true);
      return Number(rate);
    },
    async currentRate(group) {
      const [, , rate] = await call(group, 0, false);
      return Number(rate);
    },
  };
}

/** Gives claimed rows back to wait for their group's pace: not tried, so no attempt counted. */
export async function deferPacedDeliveries(db: Executor, rows: readonly { id: number; delayMs: number; group: string }[]): Promise<void> {
  if (rows.length === 0) return;
  await sql`
    update deliveries d
    set status = 'queued', attempts = greatest(d.attempts - 1, 0), claimed_by = null,
        retry_at = now() + make_interval(secs => v.delay_ms / 1000.0),
        reason = 'waiting for the pace of ' || v.grp, updated_at = now()
    from unnest(${rows.map((x) => x.id)}::bigint[], ${rows.map((x) => x.delayMs)}::int[], ${rows.map((x) => x.group)}::text[]) as v(id, delay_ms, grp)
    where d.id = v.id and d.status = 'sending'`.execute(db);
}
