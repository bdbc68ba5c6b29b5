import { AsyncLocalStorage } from 'node:async_hooks';
import { createRequire } from 'node:module';
import pino, { type Logger } from 'pino';

export type { Logger };

/** What every line logged while serving a request or running a job carries. */
export interface LogContext {
  reqId?: string;
  jobId?: string;
  job?: string;
  queue?: string;
}

/**
 * Set around each HTTP request (src/http/app.ts) and each job (src/queue/workers.ts), so domain
 * code logging through the logger it was given still says which request or job it served.
 */
export const logContext = new AsyncLocalStorage<LogContext>();

/** Marks loggers that already carry the request id as a binding (Fastify's per-request children). */
export const boundRequestId = Symbol('paperboy.boundRequestId');

const SECRET_KEYS = /^(authorization|cookie|set-cookie|password|pass|secret|token|admintoken|admin_token|api_key|apikey|hf_token|smtp_url|smtpurl)$/i;

/** `alice@example.org` → `a…@example.org`: enough to tell people apart in an incident, not to mail them. */
export function maskAddress(address: string): string {
  const at = address.lastIndexOf('@');
  if (at <= 0) return '[address]';
  return `${address[0]}…${address.slice(at)}`;
}

const ADDRESS = /[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+/g;
const URL_CREDENTIALS = /(\b[a-z][a-z0-9+.-]*:\/\/)[^/\s:@]*(?::[^/\s@]*)?@/gi;
const LINK_TOKEN = /\/(u|p|confirm)\/[^/?#\s"'<>]+/g;
const BEARER = /\b(Bearer)\s+[^\s"']+/gi;

/** Masks what may never reach a log in any string: link tokens, URL credentials, bearer tokens, addresses. */
export function scrubText(text: string): string {
  if (text.length === 0) return text;
  return text
    .replace(URL_CREDENTIALS, '$1[redacted]@')
    .replace(BEARER, '$1 [redacted]')
    .replace(LINK_TOKEN, '/$1/[token]')
    .replace(ADDRESS, (address) => maskAddress(address));
}

function scrubValue(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return scrubText(value);
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item) => scrubValue(item, depth + 1));
  if (value instanceof Error) {
    const own = scrubValue({ ...value }, depth + 1) as Record<string, unknown>;
    return { type: value.name, message: scrubText(value.message), stack: value.stack ? scrubText(value.stack) : undefined, ...own };
  }
  // Class instances (requests, sockets) are left to their serializers; only plain data is walked.
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) out[key] = SECRET_KEYS.test(key) ? '[redacted]' : scrubValue(inner, depth + 1);
  return out;
}

/** `req` and `res` have serializers of their own (below and Fastify's) that keep only safe fields. */
function scrubLogObject(object: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(object)) {
    if (key === 'req' || key === 'res') out[key] = value;
    else out[key] = SECRET_KEYS.test(key) ? '[redacted]' : scrubValue(value, 1);
  }
  return out;
}

/** Pretty, coloured lines for a person at a terminal in development; JSON lines everywhere else (log collectors). */
export const wantsPrettyLogs = (env: string, stdoutIsTty: boolean | undefined) => env === 'development' && stdoutIsTty === true;

/** pino-pretty as a synchronous stream in this process (no transport worker thread). */
function prettyStream(destination: pino.DestinationStream | undefined): pino.DestinationStream {
  const pretty = createRequire(import.meta.url)('pino-pretty') as (options: object) => pino.DestinationStream;
  return pretty({ destination: destination ?? 1, colorize: destination === undefined, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname', sync: true });
}

/** `destination` lets tests read what would be logged (default: stdout). */
export function createLogger(level: string, name = 'paperboy', destination?: pino.DestinationStream, options: { pretty?: boolean } = {}): Logger {
  return pino(
    {
      name,
      level,
      // Tokens travel in URLs and Authorization headers: never write them to logs.
      redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization'], remove: true },
      serializers: {
        req: (req: { method?: string; url?: string; ip?: string }) => ({ method: req.method, url: redactUrl(req.url ?? ''), ip: req.ip }),
      },
      mixin(_object, _level, logger) {
        const context = logContext.getStore();
        if (!context) return {};
        if (context.reqId && (logger as unknown as Record<symbol, unknown>)[boundRequestId]) {
          const { reqId: _bound, ...rest } = context;
          return rest;
        }
        return { ...context };
      },
      formatters: {
        // Every field of every line, whoever logs it: SMTP replies and error messages quote
        // addresses, and a careless field could carry a token.
        log: scrubLogObject,
      },
      hooks: {
        logMethod(args, method) {
          method.apply(this, args.map((arg) => (typeof arg === 'string' ? scrubText(arg) : arg)) as Parameters<typeof method>);
        },
      },
    },
    options.pretty ? prettyStream(destination) : destination,
  );
}

/** Link tokens are credentials: keep the route in logs, not the token. */
export function redactUrl(url: string): string {
  return url.replace(/^\/(u|p|confirm)\/[^/?#]+/, '/$1/[token]');
}
