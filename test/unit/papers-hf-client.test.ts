import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { createHfDailyPapersClient, type HfDailyPapersClientOptions } from '../../src/papers/sources/hf-daily-papers.ts';
import { PaperSourceError } from '../../src/papers/sources/http.ts';
import { sendJson, startFakeServer, type FakeHandler, type FakeServer } from '../helpers/papers-fake-server.ts';
import { waitFor } from '../helpers/wait-for.ts';

const sample = JSON.parse(readFileSync(new URL('../../data/sample/daily-papers.json', import.meta.url), 'utf8')) as Array<{
  paper: { id: string; submittedOnDailyAt: string };
}>;

const servers: FakeServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve(handler: FakeHandler): Promise<FakeServer> {
  const server = await startFakeServer(handler);
  servers.push(server);
  return server;
}

/** Short timeouts and backoffs so failure paths finish in milliseconds. */
function client(server: FakeServer, options: Partial<HfDailyPapersClientOptions> = {}) {
  return createHfDailyPapersClient({
    baseUrl: server.url,
    timeoutMs: 2_000,
    retries: 2,
    backoffBaseMs: 5,
    backoffMaxMs: 20,
    ...options,
  });
}

/** Serves the sample like the real endpoint: filtered by `date`, paged by `p` and `limit`. */
const sampleHandler: FakeHandler = (_req, res, request) => {
  const date = request.query.get('date');
  const page = Number(request.query.get('p') ?? 0);
  const limit = Number(request.query.get('limit') ?? 50);
  const day = sample.filter((item) => item.paper.submittedOnDailyAt.slice(0, 10) === date);
  sendJson(res, 200, day.slice(page * limit, (page + 1) * limit));
};

async function rejection(promise: Promise<unknown>): Promise<PaperSourceError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PaperSourceError);
  return error as PaperSourceError;
}

describe('Hugging Face Daily Papers client', () => {
  it('fetches a day of the sample file over HTTP and maps every item', async () => {
    const server = await serve(sampleHandler);
    const day = await client(server).fetchDay('2025-12-26');
    expect(day.itemCount).toBe(10);
    expect(day.pages).toBe(1);
    expect(day.invalid).toEqual([]);
    expect(day.truncated).toBe(false);
    expect(day.records.map((r) => r.arxivId)).toEqual(
      sample.filter((i) => i.paper.submittedOnDailyAt.startsWith('2025-12-26')).map((i) => i.paper.id),
    );
    const first = day.records[0]!;
    expect(first).toMatchObject({ arxivId: '2507.22058', featuredOn: '2025-12-26', withdrawnAt: null });
    expect(first.title).toMatch(/^X-Omni: /);
    expect(first.authors[0]).toBe('Zigang Geng');
    expect(server.requests[0]!.url).toBe('/api/daily_papers?date=2025-12-26&p=0&limit=100');
    expect(server.requests[0]!.headers.authorization).toBeUndefined();
  });

  it('pages with p and limit until a short page, keeping item indexes across pages', async () => {
    const server = await serve((req, res, request) => {
      const page = Number(request.query.get('p'));
      if (page === 1) {
        // Second page: one broken item in the middle.
        const items = sample.slice(4, 8) as unknown[];
        items[2] = { paper: { id: 'not-an-id', title: 'x' } };
        return sendJson(res, 200, items);
      }
      return sampleHandler(req, res, request, 0);
    });
    const day = await client(server, { pageSize: 4 }).fetchDay('2025-12-26');
    expect(server.requests.map((r) => r.query.get('p'))).toEqual(['0', '1', '2']);
    expect(server.requests.every((r) => r.query.get('limit') === '4')).toBe(true);
    expect(day.pages).toBe(3);
    expect(day.itemCount).toBe(10);
    expect(day.invalid).toHaveLength(1);
    expect(day.invalid[0]!.index).toBe(6);
    expect(day.invalid[0]!.reason).toContain('paper.id');
  });

  it('stops at maxPages and says so, and stops when a server ignores p', async () => {
    const endless = await serve((_req, res, request) =>
      sendJson(
        res,
        200,
        sample.slice(0, 2).map((item, i) => ({ ...item, paper: { ...item.paper, id: `2501.${String(Number(request.query.get('p')) * 10 + i).padStart(5, '0')}` } })),
      ),
    );
    const truncated = await client(endless, { pageSize: 2, maxPages: 3 }).fetchDay('2025-12-26');
    expect(truncated).toMatchObject({ pages: 3, truncated: true, itemCount: 6 });

    const ignoresPaging = await serve((_req, res) => sendJson(res, 200, sample.slice(0, 2)));
    const repeated = await client(ignoresPaging, { pageSize: 2, maxPages: 10 }).fetchDay('2025-12-26');
    expect(repeated.pages).toBe(2);
    expect(repeated.truncated).toBe(false);
  });

  it('sends the token as a bearer token when given', async () => {
    const server = await serve((_req, res) => sendJson(res, 200, []));
    await client(server, { token: 'hf_test_token' }).fetchDay('2025-12-26');
    expect(server.requests[0]!.headers.authorization).toBe('Bearer hf_test_token');
  });

  it('rejects a date that is not YYYY-MM-DD before any request', async () => {
    const server = await serve((_req, res) => sendJson(res, 200, []));
    await expect(client(server).fetchDay('2025-13-01')).rejects.toThrow(RangeError);
    await expect(client(server).fetchDay('26/12/2025')).rejects.toThrow(RangeError);
    expect(server.requests).toHaveLength(0);
  });

  it('waits as Retry-After says on 429, then succeeds', async () => {
    const server = await serve((_req, res, _r, index) =>
      index === 0 ? sendJson(res, 429, { error: 'slow down' }, { 'retry-after': '7' }) : sendJson(res, 200, sample.slice(0, 1)),
    );
    const waits: number[] = [];
    const day = await client(server, { sleep: async (ms) => void waits.push(ms) }).fetchDay('2025-12-26');
    expect(day.records).toHaveLength(1);
    expect(waits).toEqual([7_000]);
    expect(server.requests).toHaveLength(2);
  });

  it('reads Retry-After as an HTTP date and caps what the server asks for', async () => {
    const inThirtySeconds = new Date(Date.now() + 30_000).toUTCString();
    const server = await serve((_req, res, _r, index) => {
      if (index === 0) return sendJson(res, 429, {}, { 'retry-after': inThirtySeconds });
      if (index === 1) return sendJson(res, 429, {}, { 'retry-after': '86400' });
      if (index === 2) return sendJson(res, 429, {}, { ratelimit: '"api";r=0;t=42' });
      return sendJson(res, 200, []);
    });
    const waits: number[] = [];
    await client(server, { retries: 3, maxRetryWaitMs: 60_000, sleep: async (ms) => void waits.push(ms) }).fetchDay('2025-12-26');
    expect(waits).toHaveLength(3);
    // HTTP dates have one-second resolution.
    expect(waits[0]).toBeGreaterThan(27_000);
    expect(waits[0]).toBeLessThanOrEqual(30_000);
    expect(waits[1]).toBe(60_000);
    expect(waits[2]).toBe(42_000);
  });

  it('really waits on 429 as Retry-After says, and gives up with a typed error when 429 persists', async () => {
    const arrivals: number[] = [];
    const server = await serve((_req, res) => {
      arrivals.push(performance.now());
      sendJson(res, 429, {}, { 'retry-after': '1' });
    });
    const waits: number[] = [];
    // The real timer, observed: the client asks for the wait and the server sees it.
    const sleep = async (ms: number) => {
      waits.push(ms);
      await new Promise((resolve) => setTimeout(resolve, ms));
    };
    const error = await rejection(client(server, { retries: 2, sleep }).fetchDay('2025-12-26'));
    expect(error.code).toBe('HTTP_STATUS');
    expect(error.status).toBe(429);
    expect(error.attempts).toBe(3);
    expect(server.requests).toHaveLength(3);
    expect(waits).toEqual([1_000, 1_000]);
    // Timers may fire late, never early (a little slack for timer granularity).
    for (let i = 1; i < arrivals.length; i++) expect(arrivals[i]! - arrivals[i - 1]!).toBeGreaterThanOrEqual(990);
  });

  it('stops at once when the caller aborts, even while waiting to retry', async () => {
    const server = await serve((_req, res) => sendJson(res, 503, {}, { 'retry-after': '3600' }));
    const controller = new AbortController();
    const started = Date.now();
    const pending = client(server, { retries: 3, maxRetryWaitMs: 3_600_000 }).fetchDay('2025-12-26', { signal: controller.signal });
    await waitFor(() => server.requests.length === 1, { what: 'the first request' });
    controller.abort();
    const error = await rejection(pending);
    expect(error.code).toBe('ABORTED');
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(server.requests).toHaveLength(1);
  });

  it('retries a 500 with backoff, then succeeds', async () => {
    const server = await serve((_req, res, _r, index) =>
      index === 0 ? sendJson(res, 500, { error: 'boom' }) : sendJson(res, 200, sample.slice(0, 3)),
    );
    const waits: number[] = [];
    const day = await client(server, {
      backoffBaseMs: 1_000,
      backoffMaxMs: 10_000,
      random: () => 1,
      sleep: async (ms) => void waits.push(ms),
    }).fetchDay('2025-12-26');
    expect(day.records).toHaveLength(3);
    expect(server.requests).toHaveLength(2);
    // Equal jitter: between half and all of 1 s on the first retry; random() = 1 gives the top.
    expect(waits).toEqual([1_000]);
  });

  it('does not retry a 404', async () => {
    const server = await serve((_req, res) => sendJson(res, 404, { error: 'not found' }));
    const error = await rejection(client(server).fetchDay('2025-12-26'));
    expect(error).toMatchObject({ code: 'HTTP_STATUS', status: 404, attempts: 1 });
    expect(server.requests).toHaveLength(1);
  });

  it('times out a hung connection and retries it', async () => {
    const hung = await serve(() => {
      // Never answers.
    });
    const started = Date.now();
    const error = await rejection(client(hung, { timeoutMs: 150, retries: 1 }).fetchDay('2025-12-26'));
    expect(error.code).toBe('TIMEOUT');
    expect(error.attempts).toBe(2);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(hung.requests).toHaveLength(2);

    const hangsOnce = await serve((_req, res, _r, index) => {
      if (index > 0) sendJson(res, 200, sample.slice(0, 1));
    });
    const day = await client(hangsOnce, { timeoutMs: 150 }).fetchDay('2025-12-26');
    expect(day.records).toHaveLength(1);
  });

  it('times out a body that stalls after the headers', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('[{"paper":');
    });
    const error = await rejection(client(server, { timeoutMs: 150, retries: 0 }).fetchDay('2025-12-26'));
    expect(error.code).toBe('TIMEOUT');
  });

  it('retries a connection that is refused, then fails with NETWORK', async () => {
    const server = await serve((_req, res) => sendJson(res, 200, []));
    const { url } = server;
    await server.close();
    servers.length = 0;
    const error = await rejection(createHfDailyPapersClient({ baseUrl: url, retries: 1, backoffBaseMs: 1, backoffMaxMs: 1 }).fetchDay('2025-12-26'));
    expect(error.code).toBe('NETWORK');
    expect(error.attempts).toBe(2);
    expect(error.message).toMatch(/ECONNREFUSED/);
  });

  it('fails clearly on a body that is not JSON, without retrying', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><title>Maintenance</title>');
    });
    const error = await rejection(client(server).fetchDay('2025-12-26'));
    expect(error.code).toBe('INVALID_JSON');
    expect(error.message).toContain('did not answer JSON');
    expect(server.requests).toHaveLength(1);
  });

  it('fails clearly on JSON that is not an array', async () => {
    const server = await serve((_req, res) => sendJson(res, 200, { papers: sample.slice(0, 2) }));
    const error = await rejection(client(server).fetchDay('2025-12-26'));
    expect(error.code).toBe('NOT_AN_ARRAY');
    expect(error.message).toContain('expected an array');
  });

  it('refuses a 10 MB body announced by Content-Length without reading it', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(10 * 1024 * 1024) });
      res.write('[');
      // The rest never comes: the client must decide from the header alone.
    });
    const error = await rejection(client(server).fetchDay('2025-12-26'));
    expect(error.code).toBe('BODY_TOO_LARGE');
    expect(error.bytesRead).toBe(0);
  });

  it('stops reading a streamed 10 MB body once it passes the 5 MB cap', async () => {
    const total = 10 * 1024 * 1024;
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    let closedEarly = false;
    const server = await serve(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }); // chunked, no length
      res.on('close', () => {
        if (!res.writableFinished) closedEarly = true;
      });
      let sent = 0;
      while (sent < total && !res.destroyed) {
        const ok = res.write(chunk);
        sent += chunk.length;
        if (!ok) {
          await new Promise<void>((resolve) => {
            const done = () => {
              res.off('drain', done);
              res.off('close', done);
              resolve();
            };
            res.on('drain', done);
            res.on('close', done);
          });
        }
      }
      if (!res.destroyed) res.end();
    });
    const error = await rejection(client(server).fetchDay('2025-12-26'));
    expect(error.code).toBe('BODY_TOO_LARGE');
    expect(error.bytesRead).toBeGreaterThan(5 * 1024 * 1024);
    expect(error.bytesRead).toBeLessThan(total);
    expect(server.requests).toHaveLength(1);
    await waitFor(() => closedEarly, { what: 'the server to see the client hang up mid-body', timeoutMs: 5_000 });
  });
});
