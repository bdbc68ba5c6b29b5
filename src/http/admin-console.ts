import cookie from '@fastify/cookie';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { DomainError } from '../errors.ts';
import { consoleCookieSigner, readConsoleSession, refuseCrossSite, requireCsrfToken } from './admin-session.ts';
import { consoleAuthRoutes, renderSignInRequired } from './routes/admin-console-auth.routes.ts';
import { consoleEditionRoutes } from './routes/admin-console-editions.routes.ts';
import { consoleSubscriberRoutes } from './routes/admin-console-subscribers.routes.ts';
import { consolePaperRoutes } from './routes/admin-console-papers.routes.ts';
import { registerQueueBoard } from './admin-queues.ts';
import { consoleImportRoutes } from './routes/admin-console-import.routes.ts';

/**
 * The admin console under /admin: server-rendered pages for operators, beside the bearer-token
 * JSON API (whose routes live in their own scope in app.ts with other paths). Every route here
 * needs a console session except the sign-in page; every unsafe request must come from this site
 * and, for our forms, carry the session's form token.
 */
export const adminConsole: FastifyPluginAsyncZod = async (app) => {
  const { config, db } = app.deps;
  await app.register(cookie, { secret: consoleCookieSigner(config), hook: 'onRequest' });
  // Pages, not API: kept out of the OpenAPI document (the bearer API is what it describes).
  app.addHook('onRoute', (route) => {
    route.schema = { ...route.schema, hide: true };
  });
  app.addHook('onRequest', refuseCrossSite(config));
  app.addHook('onRequest', async (req, reply) => {
    req.consoleSession = await readConsoleSession(req, db, config);
    if (req.consoleSession || req.routeOptions.config.signedOut) return;
    if (req.method === 'GET' || req.method === 'HEAD') {
      // The page asked for is answered with the sign-in form, which returns there afterwards.
      return reply.code(401).header('cache-control', 'no-store').type('text/html').send(await renderSignInRequired(config, req.url));
    }
    throw new DomainError('unauthorized', 'Sign in to the console first; your session may have expired.');
  });
  app.addHook('preHandler', requireCsrfToken(config));
  app.addHook('onSend', async (_req, reply) => {
    reply.header('cache-control', 'no-store').header('x-robots-tag', 'noindex, nofollow');
  });
  await app.register(consoleAuthRoutes);
  await app.register(consoleEditionRoutes);
  await app.register(consoleSubscriberRoutes);
  await app.register(consolePaperRoutes);
  await app.register(consoleImportRoutes);
  await registerQueueBoard(app, app.deps.queues);
};
