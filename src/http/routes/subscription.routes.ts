import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod, ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { verificationSecrets } from '../../config/secrets.ts';
import { DomainError } from '../../errors.ts';
import { erasePersonalData, exportPersonalData, inspectDataAccessToken } from '../../subscribers/data-access.service.ts';
import { inspectUnsubscribeToken, unsubscribe } from '../../subscribers/mail-links.service.ts';
import { inspectConfirmationToken } from '../../subscribers/subscription.service.ts';
import { checkFormToken, createFormToken } from '../../subscribers/tokens.ts';
import { renderMessagePage, renderPage } from '../pages.ts';
import { clientIpKey, hashedKey, limiter } from '../rate-limits.ts';
import { isJsonMediaType, isMultipart, prefersJson } from '../media-type.ts';
import { requireSameOrigin } from '../same-origin.ts';
import { timeZoneList } from '../../subscribers/time-zones.ts';
import type { TopicPreview } from '../../subscribers/topic-preview.ts';
import { fieldOfError, typedTopics, type FieldErrors } from '../form-fields.ts';

/**
 * Topics as typed (a comma-separated field, or a JSON list); src/subscribers/topics.ts parses and
 * refuses them with a message. The caps here only bound the work; the body limit caps the rest.
 */
export const topicsField = z.union([z.string().max(20_000), z.array(z.string().max(1_000)).max(100)]).optional();
export const timeZoneField = z.string().max(200).optional();

const subscribeBody = z.object({
  email: z.string({ error: 'email is required' }).max(1000, 'email is too long'),
  topics: topicsField,
  timeZone: timeZoneField,
  website: z.string().max(1000).optional(),
  formToken: z.string().max(200).optional(),
});
type SubscribeBody = z.infer<typeof subscribeBody>;

const tokenParams = z.object({ token: z.string().min(1).max(200) });

/**
 * A sign-up form is a few hundred bytes; anything near this is not a person filling it in. Room
 * for a pasted 10,000-character topics field, so it gets the form back with a message, not a 413.
 */
export const SUBSCRIBE_BODY_LIMIT = 16 * 1024;

const wantsJson = isJsonMediaType;

export interface SignupForm {
  formToken: string;
  errors?: FieldErrors;
  email?: string;
  topics?: string;
  timeZone?: string;
  preview?: TopicPreview[] | null;
}

export const indexPage = (form: SignupForm) =>
  renderPage('index', 'Trending papers in your inbox', {
    email: '',
    topics: '',
    timeZone: '',
    preview: null,
    ...form,
    errors: form.errors ?? {},
    zones: timeZoneList(),
    previewAction: '/preview',
  });

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

const userAgentOf = (req: FastifyRequest) => req.headers['user-agent']?.slice(0, 500) ?? null;

// Pages that carry a credential in their URL: never cached, never indexed.
const tokenRoutes = /^\/(confirm|u|data)\//;

export const subscriptionRoutes: FastifyPluginAsyncZod = async (app) => {
  const { db, services, config, log } = app.deps;
  // Evaluated per request: SECRET_PREVIOUS stops being accepted when its grace period ends.
  const secrets = () => verificationSecrets(config);
  const limits = config.rateLimits;
  const sameOrigin = requireSameOrigin(config.publicUrl);
  const tokenIpLimit = limiter(app, 'token-ip', limits.tokenIp, clientIpKey);

  app.addHook('onSend', async (req, reply) => {
    // Every page here is per-request (the form carries a fresh time-trap token).
    reply.header('cache-control', 'no-store');
    if (tokenRoutes.test(req.routeOptions.url ?? '')) reply.header('x-robots-tag', 'noindex, nofollow');
  });

  app.get('/', async (_req, reply) => reply.type('text/html').send(await indexPage({ formToken: createFormToken(config.secret) })));

  /**
   * Bot checks for the sign-up form: the honeypot, and (HTML form posts only) a server-signed
   * render time that must be at least a few seconds old. JSON clients are programs by definition,
   * so the time trap would only stop honest ones; rate limits and the confirmation window cover them.
   */
  const botReason = (body: SubscribeBody, json: boolean): string | undefined => {
    if (body.website) return 'honeypot';
    if (json || config.form.minFillMs === 0) return undefined;
    const check = checkFormToken(secrets(), body.formToken, config.form);
    return check === 'ok' ? undefined : `form_token_${check}`;
  };

  app.post(
    '/subscribe',
    {
      schema: { body: subscribeBody },
      bodyLimit: SUBSCRIBE_BODY_LIMIT,
      // Only a per-IP limit answers 429 here: it depends on nothing but the caller's own requests.
      // The per-address limit is enforced where the confirmation is mailed (the worker), so no
      // answer, 429 included, tells anything about an address.
      onRequest: [sameOrigin, limiter(app, 'subscribe-ip', limits.subscribeIp, clientIpKey)],
    },
    async (req, reply) => {
      const json = wantsJson(req.headers['content-type']);
      const bot = botReason(req.body, json);
      if (bot) {
        // The same neutral answer as a real sign-up, and no email.
        log.info({ reason: bot }, 'sign-up dropped as a bot');
      } else {
        try {
          await services.subscribe({
            email: req.body.email,
            topics: req.body.topics,
            timeZone: req.body.timeZone,
            ip: req.ip,
            userAgent: userAgentOf(req),
            form: json ? 'api' : 'web',
          });
        } catch (error) {
          const field = fieldOfError(error);
          if (!json && field) {
            const html = await indexPage({
              formToken: createFormToken(config.secret),
              errors: { [field]: (error as Error).message },
              email: req.body.email.slice(0, 254),
              topics: typedTopics(req.body.topics),
              timeZone: (req.body.timeZone ?? '').slice(0, 64),
            });
            return reply.code(400).type('text/html').send(html);
          }
          throw error;
        }
      }
      if (json) return reply.code(202).send({ status: 'check_your_inbox', message: 'If the address can receive the digest, a confirmation email is on its way.' });
      return reply.type('text/html').send(await checkInboxPage());
    },
  );

  app.get('/confirm/:token', { schema: { params: tokenParams }, onRequest: [tokenIpLimit] }, async (req, reply) => {
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

  app.post('/confirm/:token', { schema: { params: tokenParams }, onRequest: [sameOrigin, tokenIpLimit] }, async (req, reply) => {
    const result = await services.confirmSubscription(req.params.token, { ip: req.ip, userAgent: userAgentOf(req) });
    if (wantsJson(req.headers['content-type']) || prefersJson(req.headers.accept)) return reply.send({ status: result });
    return reply.type('text/html').send(
      await renderMessagePage({
        title: 'Subscription confirmed',
        heading: 'You are subscribed',
        paragraphs: ['The digest arrives every morning. Every email has a link to unsubscribe with one click.'],
        homeLink: true,
      }),
    );
  });

  // RFC 8058 one-click: posted by mail providers with no cookies and a form (or multipart, or
  // empty) body. The token in the URL is the whole credential; the answer is 2xx, never a redirect.
  // No same-origin check (there is no context to check), and a per-token limit with only a high
  // per-IP ceiling, because providers post for many users from a few shared servers.
  await app.register(async (scope) => {
    const oneClick = scope.withTypeProvider<ZodTypeProvider>();
    oneClick.removeAllContentTypeParsers();
    oneClick.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 64 * 1024 }, (_req, _body, done) => done(null, undefined));
    const ipCeiling = limiter(app, 'one-click-ip', limits.oneClickIp, clientIpKey);
    const perToken = limiter(app, 'one-click-token', limits.oneClickToken, (req) => hashedKey((req.params as { token?: string }).token ?? ''));
    oneClick.post('/u/:token', { schema: { params: tokenParams }, onRequest: [ipCeiling, perToken] }, async (req, reply) => {
      const source = isMultipart(req.headers['content-type']) || !req.headers['sec-fetch-site'] ? 'one-click' : 'page';
      await unsubscribe(db, secrets(), req.params.token, source, { ip: req.ip, userAgent: userAgentOf(req) });
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

  app.get('/u/:token', { schema: { params: tokenParams }, onRequest: [tokenIpLimit] }, async (req, reply) => {
    const state = await inspectUnsubscribeToken(db, secrets(), req.params.token);
    if (!state) throw new DomainError('invalid_token', 'This unsubscribe link is not valid.');
    const token = encodeURIComponent(req.params.token);
    const page = state.subscribed
      ? { heading: 'Unsubscribe from Paperboy?', paragraphs: ['Press the button and you will not receive the daily digest any more.'], form: { action: `/u/${token}`, label: 'Unsubscribe' } }
      : { heading: 'You are unsubscribed', paragraphs: ['You do not receive the digest. Changed your mind?'], form: { action: `/u/${token}/resubscribe`, label: 'Resubscribe', secondary: true } };
    const links = [{ href: `/p/${encodeURIComponent(state.preferencesToken)}`, label: 'Your preferences and your data' }];
    return reply.type('text/html').send(await renderMessagePage({ title: page.heading, links, ...page }));
  });

  app.post('/u/:token/resubscribe', { schema: { params: tokenParams }, onRequest: [sameOrigin, tokenIpLimit] }, async (req, reply) => {
    const result = await services.resubscribe(secrets(), req.params.token, { ip: req.ip, userAgent: userAgentOf(req) });
    const pages = {
      confirmation_sent: {
        heading: 'Check your inbox',
        paragraphs: ['We sent a confirmation email to your address. Press the button in it and you are subscribed again.'],
      },
      already_subscribed: { heading: 'You are subscribed', paragraphs: ['This address already receives the digest.'] },
      not_possible: { heading: 'We cannot resubscribe this address', paragraphs: ['Mail to this address could not be delivered. Subscribe again from the start page.'] },
    } as const;
    const page = pages[result];
    return reply.type('text/html').send(await renderMessagePage({ title: page.heading, homeLink: true, ...page }));
  });

  app.get('/data/:token', { schema: { params: tokenParams }, onRequest: [tokenIpLimit] }, async (req, reply) => {
    const view = await inspectDataAccessToken(db, req.params.token);
    const token = encodeURIComponent(req.params.token);
    return reply
      .type('text/html')
      .send(await renderPage('data', 'Your data', { email: view.email, exportAction: `/data/${token}/export`, eraseAction: `/data/${token}/erase` }));
  });

  app.post('/data/:token/export', { schema: { params: tokenParams }, onRequest: [sameOrigin, tokenIpLimit] }, async (req, reply) => {
    const data = await exportPersonalData(db, req.params.token);
    return reply
      .header('content-disposition', 'attachment; filename="paperboy-data.json"')
      .type('application/json; charset=utf-8')
      .send(JSON.stringify(data, null, 2));
  });

  app.post('/data/:token/erase', { schema: { params: tokenParams }, onRequest: [sameOrigin, tokenIpLimit] }, async (req, reply) => {
    await erasePersonalData(db, req.params.token);
    if (wantsJson(req.headers['content-type']) || prefersJson(req.headers.accept)) return reply.send({ status: 'erased' });
    return reply.type('text/html').send(
      await renderMessagePage({
        title: 'Your data is erased',
        heading: 'Your data is erased',
        paragraphs: ['Your address and everything linked to it are deleted, and no more email will come. Only a one-way fingerprint of the address remains, so it is not added again unless you subscribe and confirm anew.'],
        homeLink: true,
      }),
    );
  });
};
