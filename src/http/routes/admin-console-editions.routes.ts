import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { sendConsolePage } from '../admin-pages.ts';

/** Console pages about editions and their delivery. */
export const consoleHomeRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get('/', { schema: { hide: true } }, async (req, reply) => sendConsolePage(reply, 'admin-home', 'Editions', req.consoleSession!, {}));
};
