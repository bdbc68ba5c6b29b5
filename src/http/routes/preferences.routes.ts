import type { FastifyReply } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { verificationSecrets } from '../../config/secrets.ts';
import { DATA_ACCESS_VALID_MINUTES } from '../../subscribers/data-access-email.ts';
import { openPreferenceCentre, savePreferences, StaleFormError, todayFor, type PreferenceCentre, type PreferencesForm } from '../../subscribers/preference-centre.ts';
import { PreferenceError } from '../../subscribers/preferences.ts';
import { timeZoneList } from '../../subscribers/time-zones.ts';
import { previewTopics, type TopicPreview } from '../../subscribers/topic-preview.ts';
import { formatTopics, validateTopics } from '../../subscribers/topics.ts';
import { createFormToken } from '../../subscribers/tokens.ts';
import { fieldOfError, typedTopics, type FieldErrors } from '../form-fields.ts';
import { isJsonMediaType, prefersJson } from '../media-type.ts';
import { renderMessagePage, renderPage } from '../pages.ts';
import { clientIpKey, limiter } from '../rate-limits.ts';
import { requireSameOrigin } from '../same-origin.ts';
import { indexPage, SUBSCRIBE_BODY_LIMIT, timeZoneField, topicsField } from './subscription.routes.ts';

const tokenParams = z.object({ token: z.string().min(1).max(200) });

const short = z.string().max(200);
const preferencesBody = z.object({
  topics: topicsField,
  frequency: short.optional(),
  timeZone: timeZoneField,
  deliveryHour: z.union([short, z.number()]).optional(),
  papersPerDigest: z.union([short, z.number()]).optional(),
  onlyMyTopics: z.union([short, z.boolean()]).optional(),
  pausedUntil: short.optional(),
  version: short.optional(),
  intent: short.optional(),
});

/** The sign-up form's fields, when its Preview button posts it here (no JavaScript). */
const previewBody = z.object({
  topics: topicsField,
  email: z.string().max(1000).optional(),
  timeZone: timeZoneField,
  formToken: short.optional(),
  website: z.string().max(1000).optional(),
  intent: short.optional(),
});

const statusText: Record<string, string> = {
  pending: 'waiting for you to confirm',
  active: 'subscribed',
  unsubscribed: 'unsubscribed',
  bounced: 'paused: mail to this address bounced',
  complained: 'paused: marked as spam',
};

/** What the form shows in its fields: the saved preferences, or what was just posted. */
interface FormValues {
  topics: string;
  frequency: string;
  timeZone: string;
  deliveryHour: string;
  papersPerDigest: string;
  onlyMyTopics: boolean;
  pausedUntil: string;
}

function savedValues(centre: PreferenceCentre): FormValues {
  const p = centre.preferences;
  return {
    topics: formatTopics(p.topics),
    frequency: p.frequency,
    timeZone: p.timeZone,
    deliveryHour: String(p.deliveryHour),
    papersPerDigest: String(p.papersPerDigest),
    onlyMyTopics: p.onlyMyTopics,
    pausedUntil: p.pausedUntil ?? '',
  };
}

function postedValues(body: z.infer<typeof preferencesBody>, saved: FormValues): FormValues {
  const text = (value: string | number | undefined, fallback: string) => (value === undefined ? fallback : String(value).slice(0, 64));
  return {
    topics: body.topics === undefined ? saved.topics : typedTopics(body.topics),
    frequency: text(body.frequency, saved.frequency),
    timeZone: text(body.timeZone, saved.timeZone),
    deliveryHour: text(body.deliveryHour, saved.deliveryHour),
    papersPerDigest: text(body.papersPerDigest, saved.papersPerDigest),
    onlyMyTopics: body.onlyMyTopics === true || body.onlyMyTopics === 'on' || body.onlyMyTopics === 'true',
    pausedUntil: text(body.pausedUntil, saved.pausedUntil),
  };
}

const pad = (n: number) => String(n).padStart(2, '0');

export const preferencesRoutes: FastifyPluginAsyncZod = async (app) => {
  const { db, config } = app.deps;
  const secrets = () => verificationSecrets(config);
  const sameOrigin = requireSameOrigin(config.publicUrl);
  const tokenIpLimit = limiter(app, 'token-ip', config.rateLimits.tokenIp, clientIpKey);
  // Each preview runs up to ten full-text searches: its own bucket, so previews cannot use up the
  // budget of the links in people's mail (or the other way round).
  const previewLimit = limiter(app, 'preview-ip', config.rateLimits.tokenIp, clientIpKey);

  app.addHook('onSend', async (req, reply) => {
    reply.header('cache-control', 'no-store');
    if ((req.routeOptions.url ?? '').startsWith('/p/')) reply.header('x-robots-tag', 'noindex, nofollow');
  });

  const renderCentre = async (
    reply: FastifyReply,
    token: string,
    centre: PreferenceCentre,
    page: { values?: FormValues; version?: string; errors?: FieldErrors; notice?: string | null; preview?: TopicPreview[] | null; status?: number },
  ) => {
    const values = page.values ?? savedValues(centre);
    const path = `/p/${encodeURIComponent(token)}`;
    const html = await renderPage('preferences', 'Your preferences', {
      email: centre.subscriber.email,
      statusText: statusText[centre.subscriber.status] ?? centre.subscriber.status,
      values,
      topics: values.topics,
      timeZone: values.timeZone,
      hours: Array.from({ length: 24 }, (_, h) => ({ value: String(h), label: `${pad(h)}:00`, selected: String(h) === values.deliveryHour.trim() })),
      zones: timeZoneList(),
      today: todayFor(centre.subscriber),
      version: page.version ?? centre.version,
      errors: page.errors ?? {},
      notice: page.notice ?? null,
      preview: page.preview ?? null,
      saveAction: path,
      previewAction: `${path}/preview`,
      unsubscribeAction: `/u/${encodeURIComponent(centre.unsubscribeToken)}`,
      unsubscribeHref: `/u/${encodeURIComponent(centre.unsubscribeToken)}`,
      dataLinkAction: `${path}/data-link`,
    });
    return reply.code(page.status ?? 200).type('text/html').send(html);
  };

  app.get('/p/:token', { schema: { params: tokenParams, querystring: z.object({ saved: z.string().max(8).optional() }) }, onRequest: [tokenIpLimit] }, async (req, reply) => {
    const centre = await openPreferenceCentre(db, secrets(), req.params.token);
    const notice = req.query.saved !== undefined ? 'Saved. Your changes apply from the next edition.' : null;
    return renderCentre(reply, req.params.token, centre, { notice });
  });

  app.post(
    '/p/:token',
    { schema: { params: tokenParams, body: preferencesBody }, bodyLimit: SUBSCRIBE_BODY_LIMIT, onRequest: [sameOrigin, tokenIpLimit] },
    async (req, reply) => {
      const json = isJsonMediaType(req.headers['content-type']);
      // An unticked checkbox is left out of an HTML form; a JSON client leaves out what it keeps.
      const form: PreferencesForm = { ...req.body, onlyMyTopics: req.body.onlyMyTopics ?? (json ? undefined : 'off') };
      try {
        const saved = await savePreferences(db, secrets(), req.params.token, form);
        if (json) return reply.send({ status: 'saved', topics: saved.topics, timeZone: saved.time_zone });
        return reply.redirect(`/p/${encodeURIComponent(req.params.token)}?saved=1`, 303);
      } catch (error) {
        if (json || !(error instanceof PreferenceError || error instanceof StaleFormError)) throw error;
        const centre = await openPreferenceCentre(db, secrets(), req.params.token);
        if (error instanceof StaleFormError) return renderCentre(reply, req.params.token, centre, { errors: { form: error.message }, status: 409 });
        return renderCentre(reply, req.params.token, centre, {
          values: postedValues(req.body, savedValues(centre)),
          // The version the form came with: a stale form stays stale after fixing a field.
          version: req.body.version ?? centre.version,
          errors: { [error.field]: error.message },
          status: 400,
        });
      }
    },
  );

  app.post(
    '/p/:token/preview',
    { schema: { params: tokenParams, body: preferencesBody }, bodyLimit: SUBSCRIBE_BODY_LIMIT, onRequest: [sameOrigin, previewLimit] },
    async (req, reply) => {
      const centre = await openPreferenceCentre(db, secrets(), req.params.token);
      const values = postedValues(req.body, savedValues(centre));
      const topics = await validateTopics(db, req.body.topics);
      const version = req.body.version ?? centre.version;
      if (!topics.ok) return renderCentre(reply, req.params.token, centre, { values, version, errors: { topics: topics.message }, status: 400 });
      return renderCentre(reply, req.params.token, centre, { values, version, preview: await previewTopics(db, topics.topics) });
    },
  );

  // The Preview button: JSON for public/subscribe.js, or (no JavaScript) the sign-up page again
  // with the typed values and the preview. Reads public papers only, so it needs no token.
  app.post('/preview', { schema: { body: previewBody }, bodyLimit: SUBSCRIBE_BODY_LIMIT, onRequest: [sameOrigin, previewLimit] }, async (req, reply) => {
    const topics = await validateTopics(db, req.body.topics);
    const json = isJsonMediaType(req.headers['content-type']) || prefersJson(req.headers.accept);
    if (json) {
      if (!topics.ok) return reply.code(400).send({ error: 'invalid_request', field: 'topics', message: topics.message });
      return reply.send({ topics: topics.topics, preview: await previewTopics(db, topics.topics) });
    }
    const form = {
      formToken: req.body.formToken && req.body.formToken.length <= 200 ? req.body.formToken : createFormToken(config.secret),
      email: (req.body.email ?? '').slice(0, 254),
      topics: typedTopics(req.body.topics),
      timeZone: (req.body.timeZone ?? '').slice(0, 64),
    };
    if (!topics.ok) return reply.code(400).type('text/html').send(await indexPage({ ...form, errors: { topics: topics.message } }));
    return reply.type('text/html').send(await indexPage({ ...form, preview: await previewTopics(db, topics.topics) }));
  });

  // The preferences link lives in every digest, so it can only have a short-lived link mailed to
  // the address; export and erase need that link (item 7 of issue 8: link escalation).
  app.post('/p/:token/data-link', { schema: { params: tokenParams }, onRequest: [sameOrigin, tokenIpLimit] }, async (req, reply) => {
    await app.deps.services.requestDataAccessLink(secrets(), req.params.token);
    if (isJsonMediaType(req.headers['content-type']) || prefersJson(req.headers.accept)) return reply.code(202).send({ status: 'check_your_inbox' });
    return reply.type('text/html').send(
      await renderMessagePage({
        title: 'Check your inbox',
        heading: 'Check your inbox',
        paragraphs: [`We sent a link to your address. It lets you download or erase your data and works for ${DATA_ACCESS_VALID_MINUTES} minutes.`],
        homeLink: true,
      }),
    );
  });
};
