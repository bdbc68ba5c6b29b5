import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { isAdminAuthorized } from '../http/admin-auth.ts';
import { scrubText, type Logger } from '../logger.ts';
import type { ServiceMetrics } from './metrics.ts';
import { checkReadiness, type ReadinessProbe } from './readiness.ts';

export interface OpsResponse {
  status: number;
  contentType: string;
  body: string;
  headers?: Record<string, string>;
}

export interface OpsEndpoints {
  /** The process runs and answers: nothing external is checked (a restart would not fix those). */
  health(): OpsResponse;
  /** 200 when every dependency of this role answers, else 503 naming the ones that do not. */
  ready(): Promise<OpsResponse>;
  /** Prometheus text; 401 without the bearer token when one is configured. */
  metrics(authorization: string | undefined): Promise<OpsResponse>;
}

const json = (status: number, value: unknown): OpsResponse => ({ status, contentType: 'application/json; charset=utf-8', body: JSON.stringify(value) });

export function createOpsEndpoints(deps: { role: string; probes: readonly ReadinessProbe[]; metrics: ServiceMetrics; metricsToken: string | undefined }): OpsEndpoints {
  return {
    health: () => json(200, { status: 'ok', role: deps.role }),
    async ready() {
      const { ready, checks } = await checkReadiness(deps.probes);
      const safe = Object.fromEntries(Object.entries(checks).map(([part, state]) => [part, scrubText(state)]));
      const failing = Object.keys(safe).filter((part) => safe[part] !== 'ok');
      return ready
        ? json(200, { status: 'ready', role: deps.role, checks: safe })
        : json(503, { status: 'unavailable', role: deps.role, failing, checks: safe, message: `not ready: ${failing.map((p) => `${p} (${safe[p]})`).join(', ')}` });
    },
    async metrics(authorization) {
      if (deps.metricsToken !== undefined && !isAdminAuthorized(authorization, deps.metricsToken)) {
        return { ...json(401, { error: 'unauthorized', message: 'A valid bearer token is required for /metrics.' }), headers: { 'www-authenticate': 'Bearer realm="paperboy-metrics"' } };
      }
      return { status: 200, contentType: deps.metrics.contentType, body: await deps.metrics.render() };
    },
  };
}

/**
 * A plain HTTP listener for /healthz, /readyz and /metrics: the worker role has no Fastify, and
 * the API may keep metrics off its public port (METRICS_PORT).
 */
export async function startOpsServer(endpoints: OpsEndpoints, options: { port: number; host: string; log: Logger; metrics: boolean }): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    const answer = (response: OpsResponse) => {
      res.writeHead(response.status, { 'content-type': response.contentType, 'cache-control': 'no-store', ...response.headers });
      res.end(req.method === 'HEAD' ? undefined : response.body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return answer({ ...json(405, { error: 'method_not_allowed', message: 'Only GET and HEAD.' }), headers: { allow: 'GET, HEAD' } });
    const route =
      path === '/healthz' ? async () => endpoints.health()
      : path === '/readyz' ? () => endpoints.ready()
      : path === '/metrics' && options.metrics ? () => endpoints.metrics(req.headers.authorization)
      : async () => json(404, { error: 'not_found', message: 'Only /healthz, /readyz and /metrics are served here.' });
    route().then(answer, (error: Error) => {
      options.log.error({ err: error.message, path }, 'ops endpoint failed');
      answer(json(500, { error: 'internal_error', message: 'The endpoint failed; see the logs.' }));
    });
  });
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
