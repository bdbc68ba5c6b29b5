import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  /** Path and query, e.g. /api/daily_papers?date=2025-12-26&p=0&limit=100 */
  url: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
}

export interface FakeServer {
  /** Base URL, e.g. http://127.0.0.1:43123 */
  url: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

export type FakeHandler = (req: IncomingMessage, res: ServerResponse, request: RecordedRequest, index: number) => unknown;

/** A real HTTP server on an ephemeral loopback port; `handler` decides every answer. */
export async function startFakeServer(handler: FakeHandler): Promise<FakeServer> {
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    res.on('error', () => {});
    const url = req.url ?? '/';
    const recorded: RecordedRequest = {
      method: req.method ?? 'GET',
      url,
      query: new URL(url, 'http://fake.invalid').searchParams,
      headers: req.headers,
    };
    requests.push(recorded);
    Promise.resolve(handler(req, res, recorded, requests.length - 1)).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(599);
      res.end(String(error));
    });
  });
  // A client that aborts mid-body resets the socket; that is expected here, not a test failure.
  server.on('connection', (socket) => socket.on('error', () => {}));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    async close() {
      // Hung requests would keep close() waiting forever.
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}
