import pino, { type Logger } from 'pino';

export type { Logger };

/** `destination` lets tests read what would be logged (default: stdout). */
export function createLogger(level: string, name = 'paperboy', destination?: pino.DestinationStream): Logger {
  return pino({
    name,
    level,
    // Tokens travel in URLs and Authorization headers: never write them to logs.
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization'], remove: true },
    serializers: {
      req: (req: { method?: string; url?: string; ip?: string }) => ({ method: req.method, url: redactUrl(req.url ?? ''), ip: req.ip }),
    },
  }, destination);
}

/** Link tokens are credentials: keep the route in logs, not the token. */
export function redactUrl(url: string): string {
  return url.replace(/^\/(u|p|confirm)\/[^/?#]+/, '/$1/[token]');
}
