import net from 'node:net';
import tls from 'node:tls';
import { sql } from 'kysely';
import type { RedisConnection as Redis } from '../redis-connection.ts';
import type { Database } from '../db/database.ts';

/** A dependency the process needs to do its work; `check` rejects with a short reason. */
export interface ReadinessProbe {
  name: 'postgres' | 'redis' | 'smtp';
  check(): Promise<void>;
}

export interface Readiness {
  ready: boolean;
  /** Per part: `ok`, or why it is not. */
  checks: Record<string, string>;
}

const PROBE_TIMEOUT_MS = 3_000;

function withTimeout<T>(promise: Promise<T>, what: string, ms = PROBE_TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export const postgresProbe = (db: Database): ReadinessProbe => ({
  name: 'postgres',
  check: async () => {
    await withTimeout(sql`select 1`.execute(db), 'Postgres');
  },
});

/**
 * PING on the connection the process already uses: a producer connection has no offline queue,
 * so a lost Redis fails at once instead of waiting for the reconnect.
 */
export const redisProbe = (redis: Redis): ReadinessProbe => ({
  name: 'redis',
  check: async () => {
    if (redis.status !== 'ready') throw new Error(`connection is ${redis.status}`);
    const answer = await withTimeout(redis.ping(), 'Redis');
    if (answer !== 'PONG') throw new Error(`PING answered ${answer}`);
  },
});

/**
 * The relay greets with 220 (RFC 5321 §4.2): connect, read the greeting, QUIT. No EHLO or AUTH,
 * so a probe every few seconds costs the relay one short connection and never a login attempt.
 * The last answer is reused for `cacheMs` so many probes do not become many connections.
 */
export function smtpProbe(url: string, cacheMs = 5_000): ReadinessProbe {
  const parsed = new URL(url);
  const secure = parsed.protocol === 'smtps:';
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  const port = Number(parsed.port || (secure ? 465 : 587));
  let last: { at: number; error: Error | undefined } | undefined;
  const greet = () =>
    new Promise<void>((resolve, reject) => {
      const socket = secure ? tls.connect({ host, port, servername: net.isIP(host) ? undefined : host }) : net.connect({ host, port });
      let text = '';
      const done = (error?: Error) => {
        socket.removeAllListeners('data');
        if (error) {
          socket.destroy();
          reject(error);
        } else {
          socket.end('QUIT\r\n');
          resolve();
        }
      };
      socket.setTimeout(PROBE_TIMEOUT_MS, () => done(new Error(`no greeting from ${host}:${port} within ${PROBE_TIMEOUT_MS} ms`)));
      socket.on('error', (error) => done(new Error(`${host}:${port}: ${error.message}`)));
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString('latin1');
        // A greeting may span lines (`220-…`); the last one has a space after the code.
        const last = text.split('\r\n').slice(0, -1).find((l) => /^\d{3} /.test(l) || !/^\d{3}-/.test(l));
        if (last === undefined) return;
        if (last.startsWith('220 ')) done();
        else done(new Error(`${host}:${port} greeted with "${last.slice(0, 100)}"`));
      });
    });
  return {
    name: 'smtp',
    async check() {
      if (!last || Date.now() - last.at > cacheMs) {
        const error = await greet().then(
          () => undefined,
          (e: Error) => e,
        );
        last = { at: Date.now(), error };
      }
      if (last.error) throw last.error;
    },
  };
}

/** Runs every probe at once; the process is ready when all pass. */
export async function checkReadiness(probes: readonly ReadinessProbe[]): Promise<Readiness> {
  const results = await Promise.all(
    probes.map(async (probe) => {
      try {
        await probe.check();
        return [probe.name, 'ok'] as const;
      } catch (error) {
        return [probe.name, (error as Error).message || 'failed'] as const;
      }
    }),
  );
  return { ready: results.every(([, status]) => status === 'ok'), checks: Object.fromEntries(results) };
}
