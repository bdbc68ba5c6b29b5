import { createRequire } from 'node:module';
import pino, { type Logger } from 'pino';

export type { Logger };

/** Pretty, coloured lines for a person at a terminal in development; JSON lines everywhere else (log collectors). */
export const wantsPrettyLogs = (env: string, stdoutIsTty: boolean | undefined) => env === 'development' && stdoutIsTty === true;

/** pino-pretty as a synchronous stream in this process (no transport worker thread). */
function prettyStream(destination: pino.DestinationStream | undefined): pino.DestinationStream {
  const pretty = createRequire(import.meta.url)('pino-pretty') as (options: object) => pino.DestinationStream;
  return pretty({ destination: destination ?? 1, colorize: destination === undefined, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname', sync: true });
}

/** `destination` lets tests read what would be logged (default: stdout). */
export function createLogger(level: string, name = 'paperboy', destination?: pino.DestinationStream, options: { pretty?: boolean } = {}): Logger {
  return pino({
    name,
    level,
    // Tokens travel in URLs and Authorization headers: never write them to logs.
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization'], remove: true },
    serializers: {
      req: (req: { method?: string; url?: string; ip?: string }) => ({ method: req.method, url: redactUrl(req.url ?? ''), ip: req.ip }),
    },
  }, options.pretty ? prettyStream(destination) : destination);
}

/** Link tokens are credentials: keep the route in logs, not the token. */
export function redactUrl(url: string): string {
  return url.replace(/^\/(u|p|confirm)\/[^/?#]+/, '/$1/[token]');
}
