import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';

/** An upload past this is refused with 413 before it is read; 100,000 rows are about 4 MB. */
export const IMPORT_MAX_BYTES = 64 * 1024 * 1024;

const importQuery = z
  .object({
    consent: z.enum(['confirm', 'already-consented'], { error: 'consent must be "confirm" (send a confirmation to each) or "already-consented"' }).default('confirm'),
    note: z.string().trim().max(1000).optional(),
  })
  .refine((q) => q.consent !== 'already-consented' || (q.note !== undefined && q.note.length > 0), {
    message: 'consent=already-consented needs a note saying when and how these people agreed',
    path: ['note'],
  })
  .refine((q) => q.consent === 'already-consented' || q.note === undefined, { message: 'note only goes with consent=already-consented', path: ['note'] });

const importReport = z.object({
  rows: z.number(),
  added: z.number(),
  existing: z.number(),
  suppressed: z.number(),
  duplicates: z.number(),
  invalid: z.array(z.object({ line: z.number(), reason: z.string() })),
  confirmationsQueued: z.number(),
});

/** CSV export and import for operators; registered inside the bearer-protected /admin scope. */
export const adminSubscriberCsvRoutes: FastifyPluginAsyncZod = async (app) => {
  const { services } = app.deps;

  // The body arrives whole (up to IMPORT_MAX_BYTES) before any row is written, so a cut upload
  // writes nothing; Fastify answers 413 from Content-Length alone for anything larger.
  app.addContentTypeParser(['text/csv', 'application/csv'], { parseAs: 'buffer', bodyLimit: IMPORT_MAX_BYTES }, (_req, body, done) => done(null, body));

  app.get(
    '/subscribers/export',
    { schema: { description: 'Every subscriber with status and consent fields as CSV (formula-like cells prefixed with an apostrophe); no tokens or secrets.', produces: ['text/csv'] } },
    async (_req, reply) => {
      const day = new Date().toISOString().slice(0, 10);
      reply.header('content-type', 'text/csv; charset=utf-8').header('content-disposition', `attachment; filename="paperboy-subscribers-${day}.csv"`).header('cache-control', 'no-store');
      return reply.send(services.exportSubscribers());
    },
  );

  app.post(
    '/subscribers/import',
    {
      bodyLimit: IMPORT_MAX_BYTES,
      schema: {
        description: 'Adds the addresses of a CSV body (Content-Type: text/csv; a header with an "email" column). consent=confirm (default) mails each new person a confirmation; consent=already-consented makes them active with the note recorded per row.',
        querystring: importQuery,
        response: { 200: importReport },
      },
    },
    async (req) => {
      if (!Buffer.isBuffer(req.body)) {
        throw Object.assign(new Error('Send the CSV as the request body with Content-Type: text/csv.'), { statusCode: 415, code: 'UNSUPPORTED_MEDIA_TYPE' });
      }
      const consent = req.query.consent === 'already-consented' ? { kind: 'already_consented' as const, note: req.query.note! } : { kind: 'confirm' as const };
      return services.importSubscribers(req.body, consent, `admin-api:${req.id}`);
    },
  );
};
