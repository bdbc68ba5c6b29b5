import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { loadConfig, type Config } from '../../src/config.ts';
import { createLogger, type Logger } from '../../src/logger.ts';
import { startService, type Service } from '../../src/main.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';
import { startSmtpSink, type SmtpSink } from './smtp-sink.ts';

export const testRedisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface TestService {
  service: Service;
  config: Config;
  testDb: TestDatabase;
  sink: SmtpSink;
  baseUrl: string;
  /** Closes the service, the sink, deletes the queue keys and drops the database. */
  stop(): Promise<void>;
}

/** Deletes every Redis key under a BullMQ prefix (SCAN, so it never blocks Redis). */
export async function deleteQueuePrefix(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    await redis.quit();
  }
}

/**
 * The real service (API + workers) on its own database, BullMQ prefix and SMTP sink, listening on
 * a free port, so test files can run in parallel and in any order.
 */
export async function startTestService(env: Record<string, string> = {}, options: { log?: Logger } = {}): Promise<TestService> {
  const testDb = await createTestDatabase();
  const sink = await startSmtpSink();
  const prefix = `pbtest-${randomBytes(6).toString('hex')}`;
  const config = loadConfig({
    NODE_ENV: 'test',
    PORT: '0',
    PUBLIC_URL: 'https://papers.example.test',
    DATABASE_URL: testDb.url,
    REDIS_URL: testRedisUrl,
    QUEUE_PREFIX: prefix,
    SMTP_URL: sink.url,
    MAIL_FROM: 'Paperboy <digest@papers.example.test>',
    SECRET: randomBytes(32).toString('hex'),
    LOAD_SAMPLE_DATA: 'false',
    LOG_LEVEL: 'silent',
    // Own rate-limit buckets per service, so parallel test files never share counters. Limits and
    // the form time trap are generous/off here; the abuse tests set them explicitly.
    RATE_LIMIT_NAMESPACE: `${prefix}-rl`,
    RATE_LIMIT_SUBSCRIBE_IP: '1000/1m',
    RATE_LIMIT_SUBSCRIBE_ADDRESS: '1000/1m',
    RATE_LIMIT_TOKEN_IP: '1000/1m',
    // Property tests post many altered tokens, and deletions often yield the same string again.
    RATE_LIMIT_ONE_CLICK_TOKEN: '1000/1m',
    FORM_MIN_FILL_SECONDS: '0',
    CONFIRMATION_MAX_PER_HOUR: '100000',
    // Tests never ask the internet's DNS; the MX grouping has its own test with a DNS server of its own.
    DOMAIN_MX_GROUPING: 'false',
    ...env,
  });
  const service = await startService(config, { role: 'all', log: options.log ?? createLogger('silent') });
  const port = (service.app!.server.address() as AddressInfo).port;
  return {
    service,
    config,
    testDb,
    sink,
    baseUrl: `http://127.0.0.1:${port}`,
    async stop() {
      await service.close();
      await sink.close();
      await deleteQueuePrefix(testRedisUrl, prefix);
      await deleteQueuePrefix(testRedisUrl, config.rateLimits.namespace);
      await testDb.drop();
    },
  };
}
