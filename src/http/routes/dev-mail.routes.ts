import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { simpleParser, type AddressObject } from 'mailparser';
import { z } from 'zod';
import { DomainError } from '../../errors.ts';
import { renderPage } from '../pages.ts';

const idParams = z.object({ id: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER) });

const addressText = (value: AddressObject | AddressObject[] | undefined) =>
  (Array.isArray(value) ? value : value ? [value] : []).map((a) => a.text).join(', ');

/** Development mailbox: registered only when no SMTP relay is configured. */
export const devMailRoutes: FastifyPluginAsyncZod = async (app) => {
  const { db } = app.deps;

  const loadMessage = async (id: number) => {
    const row = await db.selectFrom('dev_mailbox').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw new DomainError('not_found', 'No captured message with that id.');
    return { row, parsed: await simpleParser(row.raw) };
  };

  app.get('/dev/mail', async (_req, reply) => {
    const rows = await db.selectFrom('dev_mailbox').select(['id', 'received_at', 'envelope_to', 'subject']).orderBy('id', 'desc').limit(200).execute();
    const messages = rows.map((r) => ({ id: r.id, receivedAt: r.received_at.toISOString().replace('T', ' ').slice(0, 19), to: r.envelope_to.join(', '), subject: r.subject || '(no subject)' }));
    return reply.type('text/html').send(await renderPage('dev-mail', 'Captured mail', { messages }));
  });

  app.get('/dev/mail.json', async () => {
    const rows = await db.selectFrom('dev_mailbox').select(['id', 'received_at', 'envelope_to', 'subject']).orderBy('id', 'desc').limit(200).execute();
    return { messages: rows.map((r) => ({ id: r.id, receivedAt: r.received_at, to: r.envelope_to, subject: r.subject })) };
  });

  app.get('/dev/mail/:id', { schema: { params: idParams } }, async (req, reply) => {
    const { row, parsed } = await loadMessage(req.params.id);
    const listHeaders = [...parsed.headerLines]
      .filter((h) => /^(list-|message-id|auto-submitted)/i.test(h.key))
      .map((h) => ({ name: h.line.slice(0, h.line.indexOf(':')), value: h.line.slice(h.line.indexOf(':') + 1).trim() }));
    // Sentence punctuation after a URL in the text part is not part of it.
    const links = [...new Set([...(parsed.text ?? '').matchAll(/https?:\/\/[^\s<>"]+/g)].map((m) => m[0].replace(/[.,;:!?)]+$/, '')))].filter(
      (l) => l.startsWith(`${app.deps.config.publicUrl}/`),
    );
    return reply.type('text/html').send(
      await renderPage('dev-mail-message', parsed.subject ?? 'Message', {
        id: row.id,
        subject: parsed.subject ?? '(no subject)',
        from: addressText(parsed.from),
        to: addressText(parsed.to),
        date: parsed.date?.toISOString() ?? '',
        listHeaders,
        links,
        text: parsed.text ?? '',
      }),
    );
  });

  app.get('/dev/mail/:id/html', { schema: { params: idParams } }, async (req, reply) => {
    const { parsed } = await loadMessage(req.params.id);
    // Shown in a sandboxed iframe: no scripts, no same-origin access.
    return reply
      .header('content-security-policy', "default-src 'none'; img-src * data:; style-src 'unsafe-inline'; sandbox")
      .type('text/html')
      .send(parsed.html || '<p>(no HTML part)</p>');
  });

  app.get('/dev/mail/:id/raw', { schema: { params: idParams } }, async (req, reply) => {
    const { row } = await loadMessage(req.params.id);
    return reply.type('message/rfc822').send(row.raw);
  });
};
