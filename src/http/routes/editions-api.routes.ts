import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { findPublicEdition, listPublicEditions, type ArchiveEdition, type ArchiveEntry } from '../../editions/archive.repository.ts';
import { archivePath, isoWeekDays, isoWeekLabel, isValidDay } from '../../editions/archive-urls.ts';
import { DomainError } from '../../errors.ts';
import { sectionTitles } from '../archive-views.ts';
import { cachedBody, sendCached } from '../http-cache.ts';
import { LIST_CACHE_CONTROL } from './archive.routes.ts';

const listQuery = z.object({
  page: z.coerce.number({ error: 'page: a whole number from 1' }).int().min(1).max(100_000).default(1),
  per_page: z.coerce.number({ error: 'per_page: a whole number from 1 to 100' }).int().min(1).max(100).default(20),
});
const editionParams = z.object({ date: z.string().max(100) });
const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * The public JSON API over editions, for people who build on top: the same content as the
 * archive pages (selection and figures as mailed), nothing about sending or subscribers.
 */
export const editionsApiRoutes: FastifyPluginAsyncZod = async (app) => {
  const { db, config } = app.deps;
  const base = config.publicUrl;
  const apiId = (e: Pick<ArchiveEntry, 'kind' | 'digestDate'>) => (e.kind === 'weekly' ? isoWeekLabel(e.digestDate) : e.digestDate);
  const summary = (e: ArchiveEntry) => ({
    kind: e.kind,
    date: e.digestDate,
    ...(e.kind === 'weekly' ? { week: isoWeekLabel(e.digestDate) } : {}),
    subject: e.subject,
    paper_count: e.paperCount,
    published_at: e.createdAt.toISOString(),
    url: `${base}${archivePath(e.kind, e.digestDate)}`,
    api_url: `${base}/api/editions/${apiId(e)}`,
  });
  const detail = (e: ArchiveEdition) => ({
    ...summary(e),
    papers: e.papers.map((p) => ({
      position: p.position,
      section: p.section,
      section_title: sectionTitles[p.section],
      arxiv_id: p.arxiv_id,
      title: p.title,
      authors: p.authors,
      organization: p.organization,
      abstract: p.abstract,
      featured_on: p.featured_on,
      upvotes: p.mailedUpvotes,
      comments: p.mailedComments,
      upvote_growth_24h: p.mailedUpvoteGrowth24h,
      hf_url: `https://huggingface.co/papers/${encodeURIComponent(p.arxiv_id)}`,
      arxiv_url: `https://arxiv.org/abs/${encodeURIComponent(p.arxiv_id)}`,
      github_url: p.github_url,
      project_url: p.project_url,
    })),
  });

  app.get('/api/editions', { schema: { querystring: listQuery } }, async (req, reply) => {
    const { page, per_page: perPage } = req.query;
    const { total, entries } = await listPublicEditions(db, { offset: (page - 1) * perPage, limit: perPage });
    const link = (p: number) => `${base}/api/editions?page=${p}&per_page=${perPage}`;
    const body = {
      editions: entries.map(summary),
      page,
      per_page: perPage,
      total,
      next: page * perPage < total ? link(page + 1) : null,
      prev: page > 1 ? link(Math.min(page - 1, Math.max(1, Math.ceil(total / perPage)))) : null,
    };
    const newest = entries.reduce((d, e) => (e.createdAt > d ? e.createdAt : d), new Date(0));
    return sendCached(req, reply, cachedBody(JSON.stringify(body), JSON_TYPE, newest), LIST_CACHE_CONTROL);
  });

  app.get('/api/editions/:date', { schema: { params: editionParams } }, async (req, reply) => {
    const { date } = req.params;
    const week = isoWeekDays(date);
    if (!week && !isValidDay(date)) throw new DomainError('invalid_date', 'date: a calendar day as YYYY-MM-DD, or an ISO week as YYYY-Www');
    const edition = week ? await findPublicEdition(db, 'weekly', week.first, week.last) : await findPublicEdition(db, 'daily', date, date);
    if (!edition) throw new DomainError('not_found', `There is no ${week ? 'weekly' : 'daily'} edition for ${date}.`);
    return sendCached(req, reply, cachedBody(JSON.stringify(detail(edition)), JSON_TYPE, edition.createdAt), 'public, max-age=3600');
  });
};
