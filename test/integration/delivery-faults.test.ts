import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordSoftBounce } from '../../src/delivery/delivery.repository.ts';
import { findSendRunById } from '../../src/delivery/send-run.repository.ts';
import { collectPersonalData } from '../../src/subscribers/personal-data.ts';
import { importPapersFile, sampleDataFile } from '../../src/papers/import-file.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { waitFor } from '../helpers/wait-for.ts';

const ADMIN_TOKEN = 'admin-token-for-delivery-tests-0123456789';

/** Answers `reply` to the first `times` attempts of an address, then accepts. */
function failing(times: number, code: number, message: string) {
  let seen = 0;
  return () => (seen++ < times ? { code, message } : undefined);
}

describe('delivery faults against a scripted SMTP server', () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService({
      ADMIN_TOKEN,
      SEND_RATE: '2000',
      SEND_RETRY_DELAY_MS: '100',
      SEND_MAX_ATTEMPTS: '4',
      RECONCILE_INTERVAL_SECONDS: '0.5',
      POLICY_PAUSE_THRESHOLD: '3',
    });
    await importPapersFile(t.service.db, sampleDataFile);
  });
  afterAll(async () => t?.stop());

  const send = async (day: string, done: (status: string) => boolean = (s) => s === 'sent') => {
    const { edition, run } = await t.service.services.requestDailyDigest(day);
    await waitFor(async () => done((await findSendRunById(t.service.db, run!.id))!.status), { what: `edition ${edition.id} done`, timeoutMs: 90_000 });
    return { ...edition, runId: run!.id };
  };
  const rows = (runId: number) =>
    t.service.db
      .selectFrom('deliveries')
      .innerJoin('subscribers', 'subscribers.id', 'deliveries.subscriber_id')
      .select(['subscribers.email', 'subscribers.status as subscriberStatus', 'deliveries.status', 'deliveries.attempts', 'deliveries.enhanced_code', 'deliveries.smtp_response', 'deliveries.reason', 'deliveries.message_id'])
      .where('run_id', '=', runId)
      .execute();

  it('retries 4xx, calls a drop after the final dot unknown, suppresses only 5.1.x, never retries 5xx, sends each message once', { timeout: 120_000 }, async () => {
    const scripts: Record<string, () => { code: number; message: string } | undefined> = {
      'throttled@example.org': failing(2, 421, '4.7.0 Try again later'),
      'busy@example.org': failing(2, 451, '4.3.0 Temporary local problem'),
      'full@example.org': failing(2, 452, '4.2.2 Mailbox full'),
      'unknown@example.org': () => ({ code: 550, message: '5.1.1 The email account that you tried to reach does not exist' }),
      'policy@example.org': () => ({ code: 550, message: '5.7.26 Unauthenticated email is not accepted' }),
    };
    let drops = 0;
    t.sink.onRcpt = (address) => scripts[address]?.();
    t.sink.onData = (to) => (to.includes('dropped@example.org') && drops++ === 0 ? 'drop' : undefined);
    const fine = Array.from({ length: 40 }, (_, i) => `reader${i}@example.org`);
    await t.service.db
      .insertInto('subscribers')
      .values([...Object.keys(scripts), 'dropped@example.org', ...fine].map((email) => ({ email, status: 'active' as const })))
      .execute();

    const edition = await send('2025-12-26');
    const byEmail = new Map((await rows(edition.runId)).map((r) => [r.email, r]));
    for (const email of ['throttled@example.org', 'busy@example.org', 'full@example.org']) {
      expect(byEmail.get(email)).toMatchObject({ status: 'sent', attempts: 3, subscriberStatus: 'active' });
      expect(t.sink.rcptAttempts.get(email)).toBe(3);
      expect(t.sink.acceptedTo.get(email)).toBe(1);
    }
    expect(byEmail.get('unknown@example.org')).toMatchObject({ status: 'bounced', attempts: 1, subscriberStatus: 'bounced', enhanced_code: '5.1.1' });
    expect(t.sink.rcptAttempts.get('unknown@example.org')).toBe(1);
    expect(byEmail.get('policy@example.org')).toMatchObject({ status: 'failed', attempts: 1, subscriberStatus: 'active', enhanced_code: '5.7.26' });
    expect(byEmail.get('policy@example.org')!.smtp_response).toContain('5.7.26');
    expect(t.sink.acceptedTo.get('policy@example.org')).toBeUndefined();
    // The whole message, final dot included, had left for the server when the connection dropped:
    // the client cannot tell that from a server that accepted it and then hung up, so it is
    // `unknown` and not sent again (the server here had in fact dropped it).
    expect(byEmail.get('dropped@example.org')).toMatchObject({ status: 'unknown', attempts: 1 });
    expect(byEmail.get('dropped@example.org')!.reason).toMatch(/may have accepted it; not re-sent/);
    expect(t.sink.acceptedTo.get('dropped@example.org')).toBeUndefined();
    for (const email of fine) expect(byEmail.get(email)).toMatchObject({ status: 'sent', attempts: 1 });
    expect(t.sink.accepted).toBe(fine.length + 3);
    expect([...t.sink.messageIds.values()].every((n) => n === 1)).toBe(true);
    expect(byEmail.get('reader0@example.org')!.message_id).toMatch(/^<digest\.e\d+\.s\d+@papers\.example\.test>$/);
    // Who got which papers follows from the ledger (delivery → run → edition): every accepted
    // message and paper, and nothing for the bounced or failed; nothing is written per paper.
    for (const email of ['reader0@example.org', 'throttled@example.org']) {
      const subscriber = await t.service.db.selectFrom('subscribers').selectAll().where('email', '=', email).executeTakeFirstOrThrow();
      const received = (await collectPersonalData(t.service.db, subscriber)).papersReceived.map((p) => p.arxivId);
      expect(received.sort()).toEqual([...edition.paper_ids].sort());
    }
    for (const email of ['unknown@example.org', 'policy@example.org']) {
      const subscriber = await t.service.db.selectFrom('subscribers').selectAll().where('email', '=', email).executeTakeFirstOrThrow();
      expect((await collectPersonalData(t.service.db, subscriber)).papersReceived).toEqual([]);
    }

    // The admin endpoint reports the ledger; without the bearer token it is a 401.
    const url = `${t.baseUrl}/admin/editions?date=2025-12-26`;
    expect((await fetch(url)).status).toBe(401);
    expect((await fetch(url, { headers: { authorization: 'Bearer wrong-token-wrong-token-wrong' } })).status).toBe(401);
    const ok = await fetch(url, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(ok.status).toBe(200);
    const { editions } = (await ok.json()) as { editions: { id: number; status: string; counts: Record<string, number>; finishedAt: string | null }[] };
    expect(editions).toHaveLength(1);
    expect(editions[0]).toMatchObject({ id: edition.id, status: 'sent', counts: { sent: fine.length + 3, bounced: 1, failed: 1, queued: 0, sending: 0, unknown: 1 } });
    expect(editions[0]!.finishedAt).toBeTruthy();
  });

  it('pauses the edition after repeated 5.7.x rejections, with the reason, and suppresses nobody', { timeout: 120_000 }, async () => {
    t.sink.onData = undefined;
    t.sink.onRcpt = () => ({ code: 550, message: '5.7.26 This message does not pass authentication checks' });
    await t.service.db
      .insertInto('subscribers')
      .values(Array.from({ length: 300 }, (_, i) => ({ email: `more${i}@example.org`, status: 'active' as const })))
      .execute();
    const edition = await send('2025-12-25', (s) => s === 'paused');
    const stored = (await findSendRunById(t.service.db, edition.runId))!;
    expect(stored.pause_reason).toMatch(/policy rejections \(5\.7\.x/);
    expect(stored.pause_reason).toContain('5.7.26');
    const ledger = await rows(edition.runId);
    expect(ledger.filter((r) => r.status === 'failed').length).toBeGreaterThanOrEqual(3);
    expect(ledger.some((r) => r.status === 'queued')).toBe(true);
    const suppressed = await t.service.db.selectFrom('subscribers').select('email').where('status', '=', 'bounced').execute();
    expect(suppressed.map((s) => s.email)).toEqual(['unknown@example.org']);
    // The pause holds: the reconcile job does not restart a paused edition. The positive event is
    // the repair job itself: its scheduler has taken three more runs, so at least two completed.
    // Chunks already in flight when it paused settle first (recorded, or put back in the queue).
    await waitFor(async () => (await rows(edition.runId)).every((r) => r.status !== 'sending'), { what: 'no row sending' });
    const sentBefore = t.sink.accepted;
    const ledgerBefore = JSON.stringify(await rows(edition.runId));
    const nextRun = async () => Number((await t.service.queues.byName.digest.getJobScheduler('reconcile-deliveries'))?.next ?? 0);
    const first = await nextRun();
    await waitFor(async () => (await nextRun()) >= first + 3 * 500, { what: 'three more reconcile runs', timeoutMs: 20_000 });
    expect((await findSendRunById(t.service.db, edition.runId))!.status).toBe('paused');
    expect(t.sink.accepted).toBe(sentBefore);
    expect(JSON.stringify(await rows(edition.runId))).toBe(ledgerBefore);
  });

  it('POST /admin/editions/:id/resume continues the paused edition to the end; 401 without the token, 404 when not paused, 400 for a bad id', { timeout: 120_000 }, async () => {
    const run = await t.service.db
      .selectFrom('send_runs')
      .innerJoin('editions', 'editions.id', 'send_runs.edition_id')
      .select(['send_runs.id as runId', 'editions.id as editionId', 'send_runs.status'])
      .where('editions.digest_date', '=', '2025-12-25')
      .executeTakeFirstOrThrow();
    expect(run.status).toBe('paused');
    const resume = (id: number | string, token: string | null = ADMIN_TOKEN) =>
      fetch(`${t.baseUrl}/admin/editions/${id}/resume`, { method: 'POST', headers: token ? { authorization: `Bearer ${token}` } : {} });

    const anonymous = await resume(run.editionId, null);
    expect(anonymous.status).toBe(401);
    expect((await resume(run.editionId, 'wrong-token-for-delivery-tests-0123456789')).status).toBe(401);
    expect((await findSendRunById(t.service.db, run.runId))!.status).toBe('paused');
    expect((await resume('not-a-number')).status).toBe(400);
    expect((await resume(999_999)).status).toBe(404);

    t.sink.onRcpt = undefined;
    const queuedBefore = (await rows(run.runId)).filter((r) => r.status === 'queued').length;
    expect(queuedBefore).toBeGreaterThan(0);
    const answer = await resume(run.editionId);
    expect(answer.status).toBe(200);
    expect(await answer.json()).toMatchObject({ id: run.editionId, status: 'sending' });
    await waitFor(async () => (await findSendRunById(t.service.db, run.runId))!.status === 'sent', { what: 'resumed edition sent', timeoutMs: 90_000 });
    const ledger = await rows(run.runId);
    expect(ledger.filter((r) => r.status === 'sent')).toHaveLength(queuedBefore);
    expect(ledger.every((r) => ['sent', 'failed'].includes(r.status))).toBe(true);
    const sentIds = ledger.filter((r) => r.status === 'sent').map((r) => r.message_id);
    expect(new Set(sentIds).size).toBe(queuedBefore);
    for (const id of sentIds) expect(t.sink.messageIds.get(id!)).toBe(1);

    // Sent now, so not paused: a second resume changes nothing.
    const again = await resume(run.editionId);
    expect(again.status).toBe(404);
  });

  it('counts soft bounces once per edition and suppresses only after several over days', async () => {
    const db = t.service.db;
    const { id } = await db.insertInto('subscribers').values({ email: 'soft@example.org', status: 'active' }).returning('id').executeTakeFirstOrThrow();
    const bounce = (editionId: number) => recordSoftBounce(db, { subscriberId: id, editionId, response: '452 4.2.2 Mailbox full', limit: 3, minDays: 7 });
    const editions = await db.selectFrom('editions').select('id').orderBy('id').execute();
    expect(await bounce(editions[0]!.id)).toEqual({ consecutive: 1, suppress: false });
    expect(await bounce(editions[0]!.id)).toEqual({ consecutive: 1, suppress: false });
    expect(await bounce(editions[1]!.id)).toEqual({ consecutive: 2, suppress: false });
    // A third bad edition on the same days is not enough: the run must span days.
    const third = (await db.insertInto('editions').values({ digest_date: '2025-12-20', status: 'ready', subject: 's', paper_ids: [], html_template: '', text_template: '' }).returning('id').executeTakeFirstOrThrow()).id;
    expect(await bounce(third)).toEqual({ consecutive: 3, suppress: false });
    await db.updateTable('soft_bounces').set({ first_at: new Date(Date.now() - 8 * 86_400_000) }).where('subscriber_id', '=', id).execute();
    const fourth = (await db.insertInto('editions').values({ digest_date: '2025-12-19', status: 'ready', subject: 's', paper_ids: [], html_template: '', text_template: '' }).returning('id').executeTakeFirstOrThrow()).id;
    expect(await bounce(fourth)).toEqual({ consecutive: 4, suppress: true });
  });
});
