import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { resumeEditionSending } from '../../delivery/digest-delivery.ts';
import { findEditionReportById, findEditionReports } from '../../delivery/edition-report.ts';
import { DomainError } from '../../errors.ts';
import { deliveryDeps } from '../../queue/handlers.ts';

const sha256 = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/**
 * Bearer check in constant time: both sides are hashed to a fixed length first, so neither the
 * token's content nor its length shows in the timing.
 */
export function hasAdminBearer(authorization: string | undefined, adminToken: string | undefined): boolean {
  if (!adminToken) return false;
  const match = /^Bearer +([\x21-\x7e]{1,512}) *$/i.exec(authorization ?? '');
  return timingSafeEqual(sha256(match ? match[1]! : ''), sha256(adminToken)) && match !== null;
}

const editionParams = z.object({ id: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER) });
const listQuery = z.object({
  date: z.string().regex(/^\d{4}-\d{2}-\d{2}$/).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(10),
});

/**
 * Delivery status for operators, as JSON. Registered only when ADMIN_TOKEN is set; every route
 * here answers 401 without the bearer token, checked before anything else runs.
 */
export const adminRoutes: FastifyPluginAsyncZod = async (app) => {
  const { config, db, queues, log } = app.deps;
  app.addHook('onRequest', async (req, reply) => {
    if (!hasAdminBearer(req.headers.authorization, config.adminToken)) {
      reply.header('www-authenticate', 'Bearer realm="paperboy-admin"');
      throw new DomainError('unauthorized', 'A valid admin bearer token is required.');
    }
  });

  app.get('/editions', { schema: { querystring: listQuery } }, async (req) => ({
    editions: await findEditionReports(db, { date: req.query.date, limit: req.query.limit }),
  }));

  app.get('/editions/:id', { schema: { params: editionParams } }, async (req) => {
    const report = await findEditionReportById(db, req.params.id);
    if (!report) throw new DomainError('not_found', 'No edition with that id.');
    return report;
  });

  app.post('/editions/:id/resume', { schema: { params: editionParams } }, async (req) => {
    const resumed = await resumeEditionSending(deliveryDeps({ config, db, queues, log }), req.params.id);
    if (!resumed) throw new DomainError('not_found', 'No paused edition with that id.');
    return findEditionReportById(db, req.params.id);
  });
};
