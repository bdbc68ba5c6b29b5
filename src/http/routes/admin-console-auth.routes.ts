import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { matchesAdminToken } from '../admin-auth.ts';
import { endConsoleSession, startConsoleSession } from '../admin-session.ts';
import { renderPage } from '../pages.ts';
import { clientIpKey, limiter } from '../rate-limits.ts';

/** Where a sign-in may return to: a console page of this site, never another origin. */
export function safeNext(value: string | undefined): string {
  if (value === undefined || !/^\/admin(\/[A-Za-z0-9\-._~/?=&%+]*)?$/.test(value) || value.includes('//') || value.startsWith('/admin/sign-')) return '/admin';
  return value;
}

const signInBody = z.object({
  token: z.string().max(1000).optional(),
  next: z.string().max(1000).optional(),
});

/** Sign-in and sign-out of the console (src/http/admin-console.ts registers it). */
export const consoleAuthRoutes: FastifyPluginAsyncZod = async (app) => {
  const { config, db, log } = app.deps;
  const hours = Math.round((config.adminSessionMs / 3_600_000) * 10) / 10;

  const signInPage = (options: { next?: string; error?: string }) =>
    renderPage('admin-sign-in', 'Sign in · Admin', { disabled: !config.adminToken, error: options.error ?? null, next: safeNext(options.next), hours });

  app.get('/sign-in', { config: { signedOut: true } }, async (req, reply) => {
    if (req.consoleSession) return reply.redirect('/admin', 303);
    return reply.type('text/html').send(await signInPage({ next: (req.query as { next?: string }).next }));
  });

  app.post(
    '/sign-in',
    {
      config: { signedOut: true },
      bodyLimit: 4 * 1024,
      schema: { body: signInBody, hide: true },
      // Every attempt counts, so guessing the token is slow; a session cookie is 256 random bits,
      // not worth guessing, so signed-in pages are not limited.
      onRequest: [limiter(app, 'admin-sign-in', config.rateLimits.adminSignIn, clientIpKey)],
    },
    async (req, reply) => {
      if (!matchesAdminToken(req.body.token, config.adminToken)) {
        // Never the token itself: only that an attempt failed, and from where.
        log.warn({ ip: req.ip }, 'admin console sign-in refused');
        return reply.code(401).type('text/html').send(await signInPage({ next: req.body.next, error: 'That is not the admin token.' }));
      }
      await startConsoleSession(reply, db, config);
      log.info({ ip: req.ip }, 'admin console sign-in');
      return reply.redirect(safeNext(req.body.next), 303);
    },
  );

  app.post('/sign-out', { schema: { hide: true } }, async (req, reply) => {
    await endConsoleSession(reply, db, config, req.consoleSession);
    return reply.redirect('/admin/sign-in', 303);
  });
};

/** The sign-in page for a request without a session, answering 401 in place of the page asked for. */
export async function renderSignInRequired(config: { adminToken: string | undefined; adminSessionMs: number }, url: string): Promise<string> {
  return renderPage('admin-sign-in', 'Sign in · Admin', {
    disabled: !config.adminToken,
    error: null,
    next: safeNext(url),
    hours: Math.round((config.adminSessionMs / 3_600_000) * 10) / 10,
  });
}
