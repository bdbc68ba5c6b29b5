import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { findEditionReportById, findEditionReports } from '../../delivery/edition-report.ts';
import { DomainError } from '../../errors.ts';
import { requireAdmin } from '../admin-auth.ts';

const editionParams = z.object({ id: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER) });
const listQuery = z.object({
  date: z.string().regex(/^\d{4}-\d{2}-\d{2}$/).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(10),
});

/**
 * Delivery status for operators, as JSON. Every route here answers 401 without the admin bearer
 * token (src/http/admin-auth.ts), checked before anything else runs.
 */
export const adminRoutes: FastifyPluginAsyncZod = async (app) => {
  const { db, services } = app.deps;
  // Also covered by the /admin scope in app.ts; kept here so this module is safe wherever it is registered.
  app.addHook('onRequest', requireAdmin);

  app.get('/editions', { schema: { querystring: listQuery } }, async (req) => ({
    editions: await findEditionReports(db, { date: req.query.date, limit: req.query.limit }),
  }));

  app.get('/editions/:id', { schema: { params: editionParams } }, async (req) => {
    const report = await findEditionReportById(db, req.params.id);
    if (!report) throw new DomainError('not_found', 'No edition with that id.');
    return report;
  });

  app.post('/editions/:id/resume', { schema: { params: editionParams } }, async (req) => {
    const resumed = await services.resumeEdition(req.params.id);
    if (!resumed) throw new DomainError('not_found', 'No paused edition with that id.');
    return findEditionReportById(db, req.params.id);
  });
};
