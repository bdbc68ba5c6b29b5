import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ingestionOverview, nextDigestPreview } from '../../admin/papers.ts';
import { enqueueIngestDay } from '../../app/jobs.ts';
import { isIsoDay, utcDayOf } from '../../dates.ts';
import { DomainError } from '../../errors.ts';
import { noticeOf, sendConsolePage } from '../admin-pages.ts';

const repollBody = z.object({ _csrf: z.string().max(100).optional(), day: z.string().max(10) });
const doneQuery = z.object({ done: z.string().max(40).optional() });

/** Ingestion health and the next digest's papers; a day can be polled again from here. */
export const consolePaperRoutes: FastifyPluginAsyncZod = async (app) => {
  const { db, queues, services, config } = app.deps;

  app.get('/papers', { schema: { querystring: doneQuery } }, async (req, reply) => {
    const [days, next] = await Promise.all([ingestionOverview(db, queues), nextDigestPreview(db, services.delivery.edition, config.digestTimeZone)]);
    return sendConsolePage(reply, 'admin-papers', 'Papers and ingestion', req.consoleSession!, { days, next, today: utcDayOf(new Date()) }, { notice: noticeOf(req.query.done) });
  });

  // The same job the schedule enqueues; its deduplication id keeps it from running twice at once.
  app.post('/papers/repoll', { schema: { body: repollBody } }, async (req, reply) => {
    const { day } = req.body;
    if (!isIsoDay(day) || day > utcDayOf(new Date())) throw new DomainError('invalid_date', 'Give a past or today\'s day as YYYY-MM-DD.');
    await enqueueIngestDay(queues, day);
    return reply.redirect('/admin/papers?done=repoll', 303);
  });
};
