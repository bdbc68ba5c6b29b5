import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import { receiveWebhook } from '../../inbound/webhooks/receive.ts';

const query = z.object({ token: z.string().max(500).optional() });

/**
 * Hosted relays report bounces and complaints here (README: Webhooks). Each provider's own
 * authentication is checked before anything is stored; see src/inbound/webhooks/.
 */
export const webhookRoutes: FastifyPluginAsync = async (app) => {
  // SNS posts its JSON as text/plain.
  app.addContentTypeParser('text/plain', { parseAs: 'string', bodyLimit: 256 * 1024 }, (_req, body, done) => done(null, body));
  for (const source of ['mailgun', 'postmark', 'ses'] as const) {
    app.post(`/webhooks/${source}`, { schema: { hide: true }, bodyLimit: 256 * 1024 }, async (req, reply) => {
      const q = query.safeParse(req.query);
      const verdict = await receiveWebhook(app.deps, source, {
        body: req.body,
        authorization: req.headers.authorization,
        queryToken: q.success ? q.data.token : undefined,
        ip: req.ip,
      });
      if (verdict.status !== 200) return reply.code(verdict.status).send({ error: verdict.status === 401 ? 'unauthorized' : verdict.status === 404 ? 'not_found' : 'bad_request', message: verdict.error });
      return reply.code(200).send({ ok: true, outcome: verdict.outcome });
    });
  }
};
