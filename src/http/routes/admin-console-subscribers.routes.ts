import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { searchSubscribers, SEARCH_LIMIT, subscriberCounts, subscriberDetail } from '../../admin/subscribers.ts';
import { DomainError } from '../../errors.ts';
import { bumpTokenVersion, findSubscriberById, markUnsubscribed } from '../../subscribers/subscriber.repository.ts';
import { eraseSubscriber } from '../../subscribers/data-access.service.ts';
import { suppressSubscriber } from '../../subscribers/mail-links.service.ts';
import { noticeOf, sendConsolePage } from '../admin-pages.ts';

const personParams = z.object({ id: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER) });
const searchQuery = z.object({
  q: z.string().max(320).optional(),
  match: z.enum(['prefix', 'exact'], { error: 'match must be "prefix" or "exact"' }).default('prefix'),
  done: z.string().max(40).optional(),
});
const actionBody = z.object({ _csrf: z.string().max(100).optional() });
const eraseBody = actionBody.extend({ confirm: z.string().max(20).optional() });
const doneQuery = z.object({ done: z.string().max(40).optional() });

/** What the console records as the source of an operator's change in the consent history. */
const OPERATOR = 'operator (admin console)';

/** Console pages for the subscriber list: search, counts, one person, and the operator's actions. */
export const consoleSubscriberRoutes: FastifyPluginAsyncZod = async (app) => {
  const { db } = app.deps;
  const existing = async (id: number) => {
    const subscriber = await findSubscriberById(db, id);
    if (!subscriber) throw new DomainError('not_found', 'No subscriber with this id (erased, or never there).');
    return subscriber;
  };
  const backTo = (id: number, done: string) => `/admin/people/${id}?done=${done}`;

  app.get('/people', { schema: { hide: true, querystring: searchQuery } }, async (req, reply) => {
    const q = req.query.q ?? '';
    const [counts, results] = await Promise.all([subscriberCounts(db), searchSubscribers(db, q, req.query.match)]);
    return sendConsolePage(
      reply,
      'admin-people',
      'Subscribers',
      req.consoleSession!,
      {
        counts: Object.entries(counts).map(([status, n]) => ({ status, n })),
        q,
        exact: req.query.match === 'exact',
        searched: q.trim().length > 0,
        results: results.map((r) => ({ ...r, created: r.created_at.toISOString().slice(0, 10) })),
        limited: results.length === SEARCH_LIMIT,
        limit: SEARCH_LIMIT,
      },
      { notice: noticeOf(req.query.done) },
    );
  });

  app.get('/people/:id', { schema: { hide: true, params: personParams, querystring: doneQuery } }, async (req, reply) => {
    const detail = await subscriberDetail(db, req.params.id);
    if (!detail) throw new DomainError('not_found', 'No subscriber with this id (erased, or never there).');
    return sendConsolePage(reply, 'admin-person', detail.data.subscriber.email, req.consoleSession!, detail, { notice: noticeOf(req.query.done) });
  });

  app.post('/people/:id/unsubscribe', { schema: { hide: true, params: personParams, body: actionBody } }, async (req, reply) => {
    const subscriber = await existing(req.params.id);
    if (!(await markUnsubscribed(db, subscriber.id, OPERATOR, { ip: null, userAgent: null }))) {
      throw new DomainError('invalid_request', `This subscriber is ${subscriber.status}, not active or pending.`);
    }
    return reply.redirect(backTo(subscriber.id, 'unsubscribed'), 303);
  });

  app.post('/people/:id/suppress', { schema: { hide: true, params: personParams, body: actionBody } }, async (req, reply) => {
    const subscriber = await existing(req.params.id);
    if (!(await suppressSubscriber(db, subscriber, OPERATOR))) throw new DomainError('invalid_request', 'This address is already suppressed.');
    return reply.redirect(backTo(subscriber.id, 'suppressed'), 303);
  });

  app.post('/people/:id/revoke-links', { schema: { hide: true, params: personParams, body: actionBody } }, async (req, reply) => {
    if ((await bumpTokenVersion(db, req.params.id)) === undefined) throw new DomainError('not_found', 'No subscriber with this id (erased, or never there).');
    return reply.redirect(backTo(req.params.id, 'revoked'), 303);
  });

  // Erasure cannot be undone: a page of its own asks first.
  app.get('/people/:id/erase', { schema: { hide: true, params: personParams } }, async (req, reply) => {
    const subscriber = await existing(req.params.id);
    return sendConsolePage(reply, 'admin-erase', `Erase ${subscriber.email}`, req.consoleSession!, { id: subscriber.id, email: subscriber.email });
  });

  app.post('/people/:id/erase', { schema: { hide: true, params: personParams, body: eraseBody } }, async (req, reply) => {
    if (req.body.confirm !== 'erase') throw new DomainError('invalid_request', 'Erasing needs the confirmation step: open the erase page and press the button there.');
    const subscriber = await existing(req.params.id);
    await eraseSubscriber(db, subscriber);
    return reply.redirect('/admin/people?done=erased', 303);
  });
};
