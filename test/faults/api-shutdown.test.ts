import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { deleteQueuePrefix, testRedisUrl } from '../helpers/service.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { spawnPaperboy, stopAllWorkers } from '../helpers/worker-process.ts';

/** A port nobody listens on now (the api process binds it next). */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const refusesConnections = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });

/**
 * SIGTERM to the api role: it stops accepting connections, but a request already under way (its
 * headers read, its body still arriving) is answered and its work written before the process
 * exits 0. A sign-up sent at that moment is neither lost nor half-written.
 */
describe('fault drill: SIGTERM to the api role with a request under way', () => {
  let testDb: TestDatabase;
  const prefix = `pbapi-${randomBytes(6).toString('hex')}`;
  beforeAll(async () => {
    testDb = await createTestDatabase();
  });
  afterAll(async () => {
    await stopAllWorkers();
    await deleteQueuePrefix(testRedisUrl, prefix);
    await testDb?.drop();
  });

  it('answers the request in flight, refuses new connections meanwhile, stores the sign-up and exits 0', async () => {
    const port = await freePort();
    const api = spawnPaperboy(
      {
        NODE_ENV: 'test',
        DATABASE_URL: testDb.url,
        REDIS_URL: testRedisUrl,
        QUEUE_PREFIX: prefix,
        HOST: '127.0.0.1',
        PORT: String(port),
        PUBLIC_URL: `http://127.0.0.1:${port}`,
        SECRET: randomBytes(32).toString('hex'),
        LOAD_SAMPLE_DATA: 'false',
        INGEST_SCHEDULE: 'false',
        LOG_LEVEL: 'warn',
        SHUTDOWN_GRACE_SECONDS: '30',
      },
      ['api'],
    );
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.status === 200, { what: 'the api to listen', timeoutMs: 30_000 });

    const body = JSON.stringify({ email: 'late.signup@example.org', topics: 'diffusion' });
    const socket = net.connect(port, '127.0.0.1');
    let received = '';
    socket.on('data', (chunk) => (received += chunk.toString('latin1')));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    // With Expect: 100-continue the server says when it has read the headers: the request is then under way.
    socket.write(
      `POST /subscribe HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nExpect: 100-continue\r\n\r\n`,
    );
    await waitFor(() => received.startsWith('HTTP/1.1 100 Continue'), { what: '100 Continue', timeoutMs: 10_000 });
    socket.write(body.slice(0, 10));

    api.child.kill('SIGTERM');
    await waitFor(() => refusesConnections(port), { what: 'new connections refused', timeoutMs: 10_000 });
    expect(api.child.exitCode).toBeNull();

    // Not end(): Node's server treats a half-closed request as aborted, as most servers do.
    socket.write(body.slice(10));
    await closed;
    const response = received.slice(received.indexOf('\r\n\r\n') + 4);
    expect(response, received + api.output()).toMatch(/^HTTP\/1\.1 20\d /);
    expect(await api.exited, api.output()).toEqual({ code: 0, signal: null });
    const stored = await testDb.db.selectFrom('subscribers').select(['status', 'topics']).where('email', '=', 'late.signup@example.org').executeTakeFirst();
    expect(stored).toEqual({ status: 'pending', topics: ['diffusion'] });
  });
});
