import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type { OpsEndpoints, OpsResponse } from '../../ops/ops-endpoints.ts';

const send = (reply: FastifyReply, response: OpsResponse) =>
  reply.code(response.status).headers({ 'content-type': response.contentType, 'cache-control': 'no-store', ...response.headers }).send(response.body);

/** Health and readiness for load balancers and orchestrators; /metrics unless it has a port of its own. */
export const opsRoutes = (endpoints: OpsEndpoints, options: { metrics: boolean }): FastifyPluginAsync =>
  async (app) => {
    const hidden = { schema: { hide: true } };
    app.get('/healthz', hidden, async (_req, reply) => send(reply, endpoints.health()));
    app.get('/readyz', hidden, async (_req, reply) => send(reply, await endpoints.ready()));
    if (options.metrics) app.get('/metrics', hidden, async (req, reply) => send(reply, await endpoints.metrics(req.headers.authorization)));
  };
