import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { editionContent, editionProgress, editionsOverview } from '../../admin/editions.ts';
import { DomainError } from '../../errors.ts';
import { noticeOf, sendConsolePage } from '../admin-pages.ts';

const editionParams = z.object({ id: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER) });
const doneQuery = z.object({ done: z.string().max(40).optional() });
const pauseBody = z.object({ _csrf: z.string().max(100).optional(), reason: z.string().trim().max(500).optional() });

const notFound = () => new DomainError('not_found', 'No edition with that id.');

/** Console pages about editions and their delivery (the console's home is the editions list). */
export const consoleEditionRoutes: FastifyPluginAsyncZod = async (app) => {
  const { db, services } = app.deps;

  app.get('/', { schema: { hide: true, querystring: doneQuery } }, async (req, reply) =>
    sendConsolePage(reply, 'admin-editions', 'Editions', req.consoleSession!, await editionsOverview(db), { notice: noticeOf(req.query.done) }),
  );

  app.get('/edition/:id', { schema: { hide: true, params: editionParams, querystring: doneQuery } }, async (req, reply) => {
    const [progress, content] = await Promise.all([editionProgress(db, req.params.id), editionContent(db, req.params.id)]);
    if (!progress || !content) throw notFound();
    const inFlight = progress.status === 'planning' || progress.status === 'sending';
    return sendConsolePage(reply, 'admin-edition', `Edition ${progress.date}`, req.consoleSession!, { e: progress, text: content.text, inFlight, paused: progress.status === 'paused' }, { notice: noticeOf(req.query.done) });
  });

  // What the page's script polls (public/admin-progress.js); the page itself works without it.
  app.get('/edition/:id/progress', { schema: { hide: true, params: editionParams } }, async (req) => {
    const progress = await editionProgress(db, req.params.id);
    if (!progress) throw notFound();
    return progress;
  });

  // The digest as sent, for a sandboxed iframe: the CSP sandbox gives it an opaque origin and no
  // scripts, even if someone opens this address directly.
  app.get('/edition/:id/digest', { schema: { hide: true, params: editionParams } }, async (req, reply) => {
    const content = await editionContent(db, req.params.id);
    if (!content) throw notFound();
    return reply
      .header('content-security-policy', "default-src 'none'; img-src https: data:; style-src 'unsafe-inline'; frame-ancestors 'self'; sandbox")
      .type('text/html')
      .send(content.html);
  });

  app.post('/edition/:id/pause', { schema: { hide: true, params: editionParams, body: pauseBody } }, async (req, reply) => {
    const reason = req.body.reason || 'paused by an operator in the admin console';
    if (!(await services.pauseEdition(req.params.id, `operator: ${reason}`))) {
      throw new DomainError('invalid_request', 'This edition is not sending or planning, so there is nothing to pause.');
    }
    return reply.redirect(`/admin/edition/${req.params.id}?done=paused`, 303);
  });

  app.post('/edition/:id/resume', { schema: { hide: true, params: editionParams, body: pauseBody } }, async (req, reply) => {
    if (!(await services.resumeEdition(req.params.id))) throw new DomainError('invalid_request', 'This edition is not paused.');
    return reply.redirect(`/admin/edition/${req.params.id}?done=resumed`, 303);
  });
};
