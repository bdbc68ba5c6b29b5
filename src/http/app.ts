import path from 'node:path';
import formbody from '@fastify/formbody';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyError } from 'fastify';
import swagger from '@fastify/swagger';
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  jsonSchemaTransformObject,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type { RedisConnection as Redis } from '../redis-connection.ts';
import type { AppServices } from '../app/services.ts';
import type { Queues } from '../queue/queues.ts';
import type { Config } from '../config.ts';
import { isLoopbackHost } from '../config/loopback-host.ts';
import type { Database } from '../db/database.ts';
import { DomainError } from '../errors.ts';
import { boundRequestId, logContext, type Logger } from '../logger.ts';
import type { OpsEndpoints } from '../ops/ops-endpoints.ts';
import { processInstruments } from '../ops/metrics.ts';
import { requireAdmin } from './admin-auth.ts';
import { adminConsole } from './admin-console.ts';
import { isJsonMediaType, prefersHtml } from './media-type.ts';
import { hostAllowlist } from './host-allowlist.ts';
import { createHttpServer } from './http-server.ts';
import { refuseControlCharacters } from './control-characters.ts';
import { renderMessagePage } from './pages.ts';
import { clientIpKey, limiter, rateLimitOptions } from './rate-limits.ts';
import { adminSubscriberCsvRoutes } from './routes/admin-subscriber-csv.routes.ts';
import { adminSubscriberRoutes } from './routes/admin-subscribers.routes.ts';
import { archiveRoutes } from './routes/archive.routes.ts';
import { editionsApiRoutes } from './routes/editions-api.routes.ts';
import { feedRoutes } from './routes/feed.routes.ts';
import { createWebArchive } from './web-archive.ts';
import { adminRoutes } from './routes/admin.routes.ts';
import { devMailRoutes } from './routes/dev-mail.routes.ts';
import { opsRoutes } from './routes/ops.routes.ts';
import { preferencesRoutes } from './routes/preferences.routes.ts';
import { subscriptionRoutes } from './routes/subscription.routes.ts';
import { webhookRoutes } from './routes/webhooks.routes.ts';

export interface AppDeps {
  config: Config;
  db: Database;
  /** Rate-limit counters live in Redis, shared by every API replica. */
  redis: Redis;
  /** The job queues: the admin console re-polls a day and shows them in Bull Board. */
  queues: Queues;
  /** Feature services from the composition root (src/app/services.ts). */
  services: AppServices;
  log: Logger;
  /** Health, readiness and metrics; `metricsHere` is false when METRICS_PORT serves /metrics instead. */
  ops: { endpoints: OpsEndpoints; metricsHere: boolean };
}

declare module 'fastify' {
  interface FastifyInstance {
    deps: AppDeps;
  }
}

const publicFolder = path.join(import.meta.dirname, '../../public');

const wantsHtml = (accept: string | undefined, contentType: string | undefined) => !isJsonMediaType(contentType) && prefersHtml(accept);

/** A hop count trusts that many proxies in front of us (the nearest first). */
const hopCount = (hops: number) => (_address: string, hop: number) => hop < hops;

/** Builds the HTTP app; the server and the tests build the very same one. */
export async function buildApp(deps: AppDeps) {
  const { config } = deps;
  const https = new URL(config.publicUrl).protocol === 'https:';
  const app = Fastify({
    loggerInstance: deps.log,
    bodyLimit: 64 * 1024,
    // Timeouts live on the Node server (http-server.ts), which also drops X-Forwarded-For entries
    // that are not addresses before Fastify reads the client address from it.
    serverFactory: (handler) => createHttpServer(config, handler),
    // Only behind a proxy that sets X-Forwarded-For; otherwise clients could pick their own IP.
    // A hop count or proxy addresses take the rightmost untrusted entry (proxy-addr).
    trustProxy: typeof config.trustProxy === 'number' ? hopCount(config.trustProxy) : config.trustProxy,
    // Per-request loggers carry reqId as a binding; the mark keeps the log context from adding it twice.
    childLoggerFactory: (logger, bindings, options) => Object.assign(logger.child(bindings, options), { [boundRequestId]: true }),
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // OpenAPI from the routes' own zod schemas; registered first so it sees every route.
  await app.register(swagger, {
    openapi: {
      info: { title: 'Paperboy', description: 'Pages, the subscription API and the admin API of a Paperboy instance.', version: '1' },
      servers: [{ url: deps.config.publicUrl }],
      components: { securitySchemes: { adminToken: { type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN' } } },
    },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  });
  app.get('/docs/json', { schema: { hide: true } }, async () => app.swagger());
  app.decorate('deps', deps);
  // Domain code logs through the logger it was given; the context puts the request id on those lines too.
  app.addHook('onRequest', (req, _reply, done) => logContext.run({ reqId: req.id }, done));
  const { httpRequests, httpSeconds } = processInstruments();
  app.addHook('onResponse', async (req, reply) => {
    // The route pattern, never the raw URL: tokens live in paths, and labels must stay few.
    const route = req.routeOptions.url ?? 'unmatched';
    httpRequests.inc({ method: req.method, route, status: String(reply.statusCode) });
    httpSeconds.observe({ method: req.method, route }, reply.elapsedTime / 1000);
  });
  app.addHook('onRequest', hostAllowlist(config));

  await app.register(helmet, {
    contentSecurityPolicy: {
      directives: {
        'default-src': ["'self'"],
        'script-src': ["'self'"],
        'style-src': ["'self'"],
        'img-src': ["'self'", 'data:'],
        'frame-src': ["'self'"],
        'form-action': ["'self'"],
        'frame-ancestors': ["'self'"],
        // Only when the site is https: on a plain-http address (a LAN install) the browser would
        // fetch our own stylesheet, script and form target over https and fail.
        'upgrade-insecure-requests': https ? [] : null,
      },
    },
    // HSTS over http is ignored at best; it only makes sense when PUBLIC_URL is https.
    strictTransportSecurity: https ? { maxAge: 31_536_000, includeSubDomains: false } : false,
    // Not no-referrer: with it browsers send `Origin: null` on our own form posts, which would
    // blind the CSRF check (same-origin.ts). same-origin still gives other sites no referrer, so
    // the tokens in our URLs never leave this origin.
    referrerPolicy: { policy: 'same-origin' },
  });
  await app.register(formbody, { bodyLimit: 64 * 1024 });
  await app.register(rateLimit, rateLimitOptions(deps.redis, deps.config.rateLimits.namespace));
  await app.register(fastifyStatic, { root: publicFolder, prefix: '/assets/', index: false, wildcard: false });

  app.setErrorHandler(async (error: FastifyError, req, reply) => {
    let status = 500;
    let message = 'Something went wrong on our side. Please try again later.';
    let code = 'internal_error';
    if (error instanceof DomainError) {
      status = error.statusCode;
      message = error.message;
      code = error.code;
    } else if (hasZodFastifySchemaValidationErrors(error)) {
      status = 400;
      code = 'invalid_request';
      message = error.validation.map((v) => `${v.instancePath.replace(/^\//, '') || 'request'}: ${v.message}`).join('; ');
    } else if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
      status = error.statusCode;
      code = error.code?.toLowerCase() ?? 'bad_request';
      message = error.message;
    }
    if (status >= 500) req.log.error({ err: error }, 'request failed');
    reply.code(status);
    if (wantsHtml(req.headers.accept, req.headers['content-type'])) {
      const heading = status === 404 ? 'Not found' : status >= 500 ? 'Something went wrong' : 'That did not work';
      return reply.type('text/html').send(await renderMessagePage({ title: heading, heading, paragraphs: [message], homeLink: true }));
    }
    return reply.send({ error: code, message });
  });

  app.setNotFoundHandler(async (req, reply) => {
    reply.code(404);
    if (wantsHtml(req.headers.accept, req.headers['content-type'])) {
      return reply.type('text/html').send(await renderMessagePage({ title: 'Not found', heading: 'Not found', paragraphs: ['There is no page at this address.'], homeLink: true }));
    }
    return reply.send({ error: 'not_found', message: 'There is no route at this address.' });
  });

  // Before every route's schema: no route sees a control character in its input.
  app.addHook('preValidation', refuseControlCharacters);
  await app.register(opsRoutes(deps.ops.endpoints, { metrics: deps.ops.metricsHere }));
  // Browsers ask for it on every first visit; a 404 there is a console error on every page.
  app.get('/favicon.ico', (_req, reply) => reply.header('cache-control', 'public, max-age=86400').sendFile('favicon.ico'));
  await app.register(subscriptionRoutes);
  await app.register(preferencesRoutes);
  await app.register(webhookRoutes);
  // The public archive, feeds and JSON API share one set of in-memory caches per app.
  const web = createWebArchive(deps);
  await app.register(archiveRoutes(web));
  await app.register(feedRoutes(web));
  await app.register(editionsApiRoutes);
  // Default deny: every admin route lives in this scope and passes the rate limit and the bearer
  // check first; without ADMIN_TOKEN they all answer 401.
  await app.register(
    async (admin) => {
      admin.addHook('onRoute', (route) => {
        route.schema = { ...route.schema, security: [{ adminToken: [] }] };
      });
      admin.addHook('onRequest', limiter(admin, 'admin-ip', deps.config.rateLimits.adminIp, clientIpKey));
      admin.addHook('onRequest', requireAdmin);
      await admin.register(adminSubscriberRoutes);
      await admin.register(adminSubscriberCsvRoutes);
      // Delivery status for operators (src/http/routes/admin.routes.ts).
      await admin.register(adminRoutes);
    },
    { prefix: '/admin' },
  );
  // The console's pages: a session cookie instead of the bearer token, on paths of their own.
  await app.register(adminConsole, { prefix: '/admin' });
  // Captured mail holds everyone's confirmation links: only for a person on this machine.
  if (!config.smtpUrl && isLoopbackHost(config.host)) await app.register(devMailRoutes);
  return app;
}

export type App = Awaited<ReturnType<typeof buildApp>>;
