import multipart, { type MultipartFile, type MultipartValue } from '@fastify/multipart';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { DomainError } from '../../errors.ts';
import { sendConsolePage } from '../admin-pages.ts';
import { IMPORT_MAX_BYTES } from './admin-subscriber-csv.routes.ts';

const NOTE_MAX = 1000;

const fieldValue = (field: unknown): string | undefined => {
  const value = (field as MultipartValue | undefined)?.value;
  return typeof value === 'string' ? value : undefined;
};

/** A file name fit for the consent record: printable, short. */
const cleanFileName = (name: string | undefined) => (name ?? '').replace(/[^\w.\- ]+/g, '_').slice(0, 100) || 'upload.csv';

/**
 * CSV import and export in the console, through the same import service as the CLI and the JSON
 * API (src/subscribers/subscriber-csv.ts). The operator states the consent basis on the form:
 * send a confirmation to each (the default), or already consented with a note.
 */
export const consoleImportRoutes: FastifyPluginAsyncZod = async (app) => {
  const { services } = app.deps;

  app.get('/import', async (req, reply) =>
    sendConsolePage(reply, 'admin-import', 'Import subscribers', req.consoleSession!, { report: null, error: null, maxMegabytes: IMPORT_MAX_BYTES / 1024 / 1024 }),
  );

  app.get('/export.csv', async (_req, reply) => {
    const day = new Date().toISOString().slice(0, 10);
    reply.header('content-type', 'text/csv; charset=utf-8').header('content-disposition', `attachment; filename="paperboy-subscribers-${day}.csv"`);
    return reply.send(services.exportSubscribers());
  });

  await app.register(async (upload) => {
    // Announced uploads over the limit are refused before a byte of them is read.
    upload.addHook('onRequest', async (req) => {
      const length = Number(req.headers['content-length'] ?? 0);
      if (length > IMPORT_MAX_BYTES + 64 * 1024) {
        throw Object.assign(new Error(`The file is larger than ${IMPORT_MAX_BYTES / 1024 / 1024} MB.`), { statusCode: 413, code: 'FST_REQ_FILE_TOO_LARGE' });
      }
    });
    await upload.register(multipart, {
      attachFieldsToBody: true,
      limits: { fileSize: IMPORT_MAX_BYTES, files: 1, fields: 5, fieldSize: NOTE_MAX * 4, parts: 6 },
    });

    upload.post('/import', { bodyLimit: IMPORT_MAX_BYTES + 64 * 1024 }, async (req, reply) => {
      if (!req.isMultipart()) throw Object.assign(new Error('Send the form as multipart/form-data with the CSV file.'), { statusCode: 415, code: 'UNSUPPORTED_MEDIA_TYPE' });
      const body = req.body as Record<string, unknown>;
      const file = body.file as MultipartFile | undefined;
      const consentChoice = fieldValue(body.consent) ?? 'confirm';
      const note = (fieldValue(body.note) ?? '').trim();
      const refuse = async (message: string) =>
        sendConsolePage(reply, 'admin-import', 'Import subscribers', req.consoleSession!, { report: null, error: message, maxMegabytes: IMPORT_MAX_BYTES / 1024 / 1024 }, { status: 400 });
      if (consentChoice !== 'confirm' && consentChoice !== 'already-consented') return refuse('Choose whether to send a confirmation to each person or that they already consented.');
      if (consentChoice === 'already-consented' && note.length === 0) return refuse('"Already consented" needs a note saying when and how these people agreed.');
      if (note.length > NOTE_MAX) return refuse(`The consent note is longer than ${NOTE_MAX} characters.`);
      if (!file || file.type !== 'file') return refuse('Choose a CSV file to import.');
      const csv = await file.toBuffer();
      if (csv.length === 0) return refuse('The file is empty.');
      const consent = consentChoice === 'already-consented' ? { kind: 'already_consented' as const, note } : { kind: 'confirm' as const };
      try {
        const report = await services.importSubscribers(csv, consent, `admin console (${req.id}) upload ${cleanFileName(file.filename)}`);
        return sendConsolePage(reply, 'admin-import', 'Import subscribers', req.consoleSession!, { report, error: null, maxMegabytes: IMPORT_MAX_BYTES / 1024 / 1024 });
      } catch (error) {
        if (error instanceof DomainError && error.statusCode < 500) return refuse(error.message);
        throw error;
      }
    });
  });
};
