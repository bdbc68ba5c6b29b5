import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { DomainError } from '../../errors.ts';
import { normaliseTopic } from '../../papers/topic-search.ts';
import type { FeedFormat } from '../feeds.ts';
import { sendCached } from '../http-cache.ts';
import type { WebArchive } from '../web-archive.ts';
import { LIST_CACHE_CONTROL } from './archive.routes.ts';

const feedQuery = z.object({ topic: z.string({ error: 'topic: give it once, as text' }).max(10_000, 'topic: at most 200 characters').optional() });

/**
 * /feed.xml (Atom) and /feed.json (JSON Feed) of the newest editions, or with ?topic= of the
 * recent papers matching that topic (src/papers/topic-search.ts).
 */
export function feedRoutes(web: WebArchive): FastifyPluginAsyncZod {
  return async (app) => {
    for (const [path, format] of [
      ['/feed.xml', 'atom'],
      ['/feed.json', 'json'],
    ] as const satisfies readonly (readonly [string, FeedFormat])[]) {
      app.get(path, { schema: { querystring: feedQuery } }, async (req, reply) => {
        if (req.query.topic === undefined) return sendCached(req, reply, await web.editionsFeed(format), LIST_CACHE_CONTROL);
        const topic = normaliseTopic(req.query.topic);
        if (!topic.ok) throw new DomainError('invalid_request', topic.message);
        return sendCached(req, reply, await web.topicFeed(topic.topic, format), LIST_CACHE_CONTROL);
      });
    }
  };
}
