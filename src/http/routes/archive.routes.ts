import type { FastifyReply } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { isoWeekDays, isValidDay } from '../../editions/archive-urls.ts';
import { formatDigestDate } from '../../editions/render-digest.ts';
import { DomainError } from '../../errors.ts';
import { sendCached, type CachedBody } from '../http-cache.ts';
import { renderMessagePage } from '../pages.ts';
import type { WebArchive } from '../web-archive.ts';

export const pageQuery = z.object({ page: z.coerce.number({ error: 'page: a whole number from 1' }).int().min(1).max(100_000).default(1) });
const dayParams = z.object({ day: z.string().max(100) });
const weekParams = z.object({ week: z.string().max(100) });

const EDITION_CACHE_CONTROL = 'public, max-age=3600';
export const LIST_CACHE_CONTROL = 'public, max-age=60';

const robotsTxt = (publicUrl: string) =>
  [
    'User-agent: *',
    // Pages whose URL carries a personal token, operator routes and the development mailbox.
    'Disallow: /confirm/',
    'Disallow: /u/',
    'Disallow: /p/',
    'Disallow: /admin',
    'Disallow: /dev/',
    'Allow: /',
    '',
    `Sitemap: ${publicUrl}/sitemap.xml`,
    '',
  ].join('\n');

async function notFoundPage(reply: FastifyReply, heading: string, paragraph: string) {
  return reply
    .code(404)
    .type('text/html; charset=utf-8')
    .send(
      await renderMessagePage({
        title: heading,
        heading,
        paragraphs: [paragraph, 'Editions exist for the days Hugging Face Daily Papers featured papers, from the first digest on.'],
        links: [
          { href: '/archive', label: 'See every edition in the archive' },
          { href: '/', label: 'Get the digest by email' },
        ],
      }),
    );
}

export function archiveRoutes(web: WebArchive): FastifyPluginAsyncZod {
  return async (app) => {
    const { config } = app.deps;

    app.get('/archive', { schema: { querystring: pageQuery } }, async (req, reply) => {
      const page = await web.archiveList(req.query.page);
      if (!page) return notFoundPage(reply, 'No such archive page', `The archive has fewer than ${req.query.page} pages.`);
      return sendCached(req, reply, page, LIST_CACHE_CONTROL);
    });

    app.get('/archive/:day', { schema: { params: dayParams } }, async (req, reply) => {
      const { day } = req.params;
      if (!isValidDay(day)) throw new DomainError('invalid_date', 'An edition address is /archive/YYYY-MM-DD with a real calendar day.');
      const page: CachedBody | undefined = await web.editionPage('daily', day, day);
      if (!page) return notFoundPage(reply, 'No edition on this day', `There is no edition for ${formatDigestDate(day)}.`);
      return sendCached(req, reply, page, EDITION_CACHE_CONTROL);
    });

    app.get('/archive/week/:week', { schema: { params: weekParams } }, async (req, reply) => {
      const days = isoWeekDays(req.params.week);
      if (!days) throw new DomainError('invalid_date', 'A weekly edition address is /archive/week/YYYY-Www with an ISO 8601 week, such as 2025-W52.');
      const page = await web.editionPage('weekly', days.first, days.last);
      if (!page) return notFoundPage(reply, 'No edition for this week', `There is no weekly edition for the week of ${formatDigestDate(days.first)}.`);
      return sendCached(req, reply, page, EDITION_CACHE_CONTROL);
    });

    app.get('/sitemap.xml', async (req, reply) => sendCached(req, reply, await web.sitemap(), LIST_CACHE_CONTROL));

    const robots = robotsTxt(config.publicUrl);
    app.get('/robots.txt', async (_req, reply) => reply.type('text/plain; charset=utf-8').header('cache-control', 'public, max-age=3600').send(robots));
  };
}
