import type { FastifyPluginAsyncZod, ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { DomainError } from '../../errors.ts';
import {
  confirmSubscription,
  inspectConfirmationToken,
  inspectUnsubscribeToken,
  resubscribe,
  subscribe,
  unsubscribe,
} from '../../subscribers/subscription.service.ts';
import { renderMessagePage, renderPage } from '../pages.ts';

const topicsField = z
  .union([z.string().max(500), z.array(z.string().max(100)).max(20)])
  .optional()
  .transform((value) =>
    (Array.isArray(value) ? value : (value ?? '').split(','))
      .map((t) => t.replace(/\s+/g, ' ').trim().toLowerCase())
      .filter((t) => t.length > 0 && t.length <= 100)
      .slice(0, 20),
  );

const subscribeBody = z.object({
  email: z.string({ error: 'email is required' }).max(1000, 'email is too long'),
  topics: topicsField,
  timeZone: z.string().max(100).optional(),
  website: z.string().max(1000).optional(),
});

const tokenParams = z.object({ token: z.string().min(1).max(200) });

const wantsJson = (contentType: string | undefined) => (contentType ?? '').startsWith('application/json');

const indexPage = (form: { error?: string; email?: string; topics?: string }) =>
  renderPage('index', 'Trending papers in your inbox', { error: null, email: '', topics: '', ...form });

const checkInboxPage = () =>
  renderMessagePage({
    title: 'Check your inbox',
    heading: 'Check your inbox',
    paragraphs: [
      'If that address can receive the digest, a confirmation email is on its way. Open it and press the button to start your subscription.',
      'Nothing arrives? Look in the spam folder, or try again in a few minutes.',
    ],
    homeLink: true,
  });

export const subscriptionRoutes: FastifyPluginAsyncZod = async (app) => {
  const { db, queues, config } = app.deps;

  app.get('/', async (_req, reply) => reply.type('text/html').send(await indexPage({})));

  app.post('/subscribe', { schema: { body: subscribeBody } }, async (req, reply) => {
    const json = wantsJson(req.headers['content-type']);
    // A filled honeypot is a bot: same neutral answer, no email.
    if (!req.body.website) {
      try {
        await subscribe(
          { db, queues },
          {
            email: req.body.email,
            topics: req.body.topics,
            timeZone: req.body.timeZone,
            ip: req.ip,
            userAgent: req.headers['user-agent']?.slice(0, 500) ?? null,
            form: json ? 'api' : 'web',
          },
        );
      } catch (error) {
        if (!json && error instanceof DomainError && error.code === 'invalid_email') {
          const html = await indexPage({
            error: error.message,
            email: req.body.email.slice(0, 254),
            topics: req.body.topics.join(', '),
          });
          return reply.code(400).type('text/html').send(html);
        }
        throw error;
      }
    }
    if (json) return reply.code(202).send({ status: 'check_your_inbox', message: 'If the address can receive the digest, a confirmation email is on its way.' });
    return reply.type('text/html').send(await checkInboxPage());
  });

  app.get('/confirm/:token', { schema: { params: tokenParams } }, async (req, reply) => {
    const state = await inspectConfirmationToken(db, req.params.token);
    const pages = {
      valid: { code: 200, heading: 'Confirm your subscription', paragraphs: ['Press the button to start receiving the daily digest.'], form: { action: `/confirm/${encodeURIComponent(req.params.token)}`, label: 'Confirm subscription' } },
      already_confirmed: { code: 200, heading: 'You are subscribed', paragraphs: ['This subscription is already confirmed. The next digest is on its way.'] },
      expired: { code: 410, heading: 'This link has expired', paragraphs: ['Confirmation links work for three days. Subscribe again to get a new one.'] },
      invalid: { code: 404, heading: 'This link is not valid', paragraphs: ['The confirmation link is incomplete or unknown. Copy the whole link from the email, or subscribe again.'] },
    } as const;
    const page = pages[state];
    return reply
      .code(page.code)
      .type('text/html')
      .send(await renderMessagePage({ title: page.heading, homeLink: state !== 'valid', ...page }));
  });

  app.post('/confirm/:token', { schema: { params: tokenParams } }, async (req, reply) => {
    const result = await confirmSubscription(db, req.params.token, { ip: req.ip, userAgent: req.headers['user-agent']?.slice(0, 500) ?? null });
    if (wantsJson(req.headers['content-type']) || req.headers.accept === 'application/json') return reply.send({ status: result });
    return reply.type('text/html').send(
      await renderMessagePage({
        title: 'Subscription confirmed',
        heading: result === 'confirmed' ? 'You are subscribed 🎉' : 'You are subscribed',
        paragraphs: ['The digest arrives every morning. Every email has a link to unsubscribe with one click.'],
        homeLink: true,
      }),
    );
  });

  // RFC 8058 one-click: posted by mail providers with no cookies and a form (or multipart, or
  // empty) body. The token in the URL is the whole credential; the answer is 2xx, never a redirect.
  await app.register(async (scope) => {
    const oneClick = scope.withTypeProvider<ZodTypeProvider>();
    oneClick.removeAllContentTypeParsers();
    oneClick.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 64 * 1024 }, (_req, _body, done) => done(null, undefined));
    oneClick.post('/u/:token', { schema: { params: tokenParams } }, async (req, reply) => {
      const source = req.headers['content-type']?.startsWith('multipart/') || !req.headers['sec-fetch-site'] ? 'one-click' : 'page';
      await unsubscribe(db, config.secret, req.params.token, source);
      const token = encodeURIComponent(req.params.token);
      return reply.type('text/html').send(
        await renderMessagePage({
          title: 'Unsubscribed',
          heading: 'You are unsubscribed',
          paragraphs: ['You will not receive the digest any more. Unsubscribed by mistake?'],
          form: { action: `/u/${token}/resubscribe`, label: 'Resubscribe', secondary: true },
        }),
      );
    });
  });

  app.get('/u/:token', { schema: { params: tokenParams } }, async (req, reply) => {
    const state = await inspectUnsubscribeToken(db, config.secret, req.params.token);
    if (!state) throw new DomainError('invalid_token', 'This unsubscribe link is not valid.');
    const token = encodeURIComponent(req.params.token);
    const page = state.subscribed
      ? { heading: 'Unsubscribe from Paperboy?', paragraphs: ['Press the button and you will not receive the daily digest any more.'], form: { action: `/u/${token}`, label: 'Unsubscribe' } }
      : { heading: 'You are unsubscribed', paragraphs: ['You do not receive the digest. Changed your mind?'], form: { action: `/u/${token}/resubscribe`, label: 'Resubscribe', secondary: true } };
    return reply.type('text/html').send(await renderMessagePage({ title: page.heading, ...page }));
  });

  app.post('/u/:token/resubscribe', { schema: { params: tokenParams } }, async (req, reply) => {
    const result = await resubscribe(db, config.secret, req.params.token);
    const page =
      result === 'resubscribed'
        ? { heading: 'Welcome back', paragraphs: ['You are subscribed again. The next digest is on its way.'] }
        : { heading: 'We cannot resubscribe this address', paragraphs: ['Mail to this address could not be delivered, or it was never confirmed. Subscribe again from the start page.'] };
    return reply.type('text/html').send(await renderMessagePage({ title: page.heading, homeLink: true, ...page }));
  });
};
