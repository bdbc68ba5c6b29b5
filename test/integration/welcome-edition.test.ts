import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findSendRunById } from '../../src/delivery/send-run.repository.ts';
import { importPapersFile, sampleDataFile } from '../../src/papers/import-file.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { waitFor } from '../helpers/wait-for.ts';

/** Subscribes over HTTP and confirms with the link from the confirmation email; returns the reader's id. */
async function signUpAndConfirm(t: TestService, email: string, topics = ''): Promise<number> {
  const form = await fetch(`${t.baseUrl}/subscribe`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
    body: new URLSearchParams({ email, topics, timeZone: 'Europe/Berlin' }).toString(),
  });
  expect(form.status).toBe(200);
  const confirmation = await waitFor(() => t.sink.to(email).find((m) => m.parsed.subject === 'Confirm your Paperboy subscription'), { what: 'confirmation email' });
  const path = /https:\/\/papers\.example\.test(\/confirm\/[A-Za-z0-9_-]+)/.exec(confirmation.parsed.text ?? '')![1]!;
  expect((await fetch(`${t.baseUrl}${path}`, { method: 'POST' })).status).toBe(200);
  return (await t.service.db.selectFrom('subscribers').select('id').where('email', '=', email).executeTakeFirstOrThrow()).id;
}

const digestsTo = (t: TestService, email: string) => t.sink.to(email).filter((m) => m.parsed.messageId?.startsWith('<digest.'));

describe('the welcome edition (issue #10, item 7)', () => {
  let t: TestService;
  let latest: { id: number; subject: string };
  beforeAll(async () => {
    t = await startTestService();
    await importPapersFile(t.service.db, sampleDataFile);
    // Two editions exist; the welcome is the latest one.
    for (const day of ['2025-12-25', '2025-12-26']) {
      const { edition } = await t.service.services.requestDailyDigest(day);
      latest = edition;
    }
  }, 60_000);
  afterAll(async () => t?.stop());

  it('sends the latest edition right after confirming, once, and never that edition again', async () => {
    const email = 'welcome@example.org';
    const id = await signUpAndConfirm(t, email, 'diffusion');
    const welcome = await waitFor(() => digestsTo(t, email)[0], { what: 'the welcome edition' });
    expect(welcome.parsed.messageId).toBe(`<digest.e${latest.id}.s${id}@papers.example.test>`);
    // Their own selection: their topic's papers under "For you".
    expect(welcome.parsed.text).toContain('Because you follow "diffusion"');

    // Asking again (a re-delivered job), sending that day to everyone, and the hourly tick when
    // that edition is due for them add nothing.
    const again = await t.service.services.requestWelcomeEdition(id);
    expect(again.editionId).toBe(latest.id);
    const { run } = await t.service.services.requestDailyDigest('2025-12-26');
    await waitFor(async () => (await findSendRunById(t.service.db, run!.id))?.status === 'sent', { what: 'the send of 2025-12-26' });
    const ticks = await t.service.services.deliverDue(new Date('2025-12-27T07:00:00Z'));
    for (const tick of ticks) if (tick.runId) await waitFor(async () => (await findSendRunById(t.service.db, tick.runId!))?.status === 'sent', { what: 'the tick' });
    await waitFor(async () => (await findSendRunById(t.service.db, again.runId!))?.status === 'sent', { what: 'the welcome run' });
    expect(digestsTo(t, email)).toHaveLength(1);
    const rows = await t.service.db.selectFrom('deliveries').select(['edition_id', 'status']).where('subscriber_id', '=', id).execute();
    expect(rows).toEqual([{ edition_id: latest.id, status: 'sent' }]);
  });

  it('sends no welcome when WELCOME_EDITION=false', async () => {
    const off = await startTestService({ WELCOME_EDITION: 'false' });
    try {
      await importPapersFile(off.service.db, sampleDataFile);
      await off.service.services.requestDailyDigest('2025-12-26');
      const email = 'nowelcome@example.org';
      const id = await signUpAndConfirm(off, email);
      // The welcome job would have been queued by the confirmation, before it answered.
      expect(await off.service.queues.byName.digest.getJobs(['waiting', 'delayed', 'active', 'completed'])).not.toContainEqual(expect.objectContaining({ name: 'welcome-edition' }));
      expect(await off.service.db.selectFrom('deliveries').select('id').where('subscriber_id', '=', id).execute()).toEqual([]);
      expect(digestsTo(off, email)).toEqual([]);
    } finally {
      await off.stop();
    }
  });
});
