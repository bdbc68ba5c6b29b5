import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { DomainError } from '../../errors.ts';
import { bumpTokenVersion, countSubscribersByStatus } from '../../subscribers/subscriber.repository.ts';

/** Admin routes for the subscriber list; registered inside the bearer-protected /admin scope. */
export const adminSubscriberRoutes: FastifyPluginAsyncZod = async (app) => {
  const { db } = app.deps;

  app.get('/subscribers/counts', async () => ({ counts: await countSubscribersByStatus(db) }));

  // Revokes every unsubscribe and preferences link of one subscriber (e.g. a leaked link).
  app.post(
    '/subscribers/:id/revoke-links',
    { schema: { params: z.object({ id: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER) }) } },
    async (req) => {
      const version = await bumpTokenVersion(db, req.params.id);
      if (version === undefined) throw new DomainError('not_found', 'No subscriber with this id.');
      return { status: 'revoked', tokenVersion: version };
    },
  );
};
