import { findSendRunById } from '../../src/delivery/send-run.repository.ts';
import type { ReceivedMessage } from './smtp-sink.ts';
import type { TestService } from './service.ts';
import { waitFor } from './wait-for.ts';

/**
 * Sends the edition of `day` for real (planner, sender, SMTP sink) to one active subscriber and
 * returns the digest as received, with the personal parts a public page must never show.
 */
export async function sendDigestTo(t: TestService, day: string, email: string) {
  await t.service.db.insertInto('subscribers').values({ email, status: 'active', confirmed_at: new Date() }).onConflict((oc) => oc.doNothing()).execute();
  const { edition, run } = await t.service.services.requestDailyDigest(day);
  await waitFor(async () => (await findSendRunById(t.service.db, run!.id))?.status === 'sent', { what: `edition of ${day} sent` });
  const digest: ReceivedMessage = await waitFor(() => t.sink.to(email).find((m) => m.parsed.subject?.startsWith('Trending papers')), { what: 'digest at the sink' });
  const text = digest.parsed.text ?? '';
  const html = typeof digest.parsed.html === 'string' ? digest.parsed.html : '';
  const personal = [
    email,
    ...[...`${text}\n${html}`.matchAll(/https:\/\/papers\.example\.test(\/[up]\/[A-Za-z0-9._~%-]+)/g)].map((m) => m[1]!),
  ];
  const viewInBrowser = /^View in browser: (\S+)$/m.exec(text)?.[1];
  return { edition, digest, text, html, personal: [...new Set(personal)], viewInBrowser };
}
