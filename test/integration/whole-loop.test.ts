import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countDeliveriesByStatus } from '../../src/delivery/delivery.repository.ts';
import { findSendRunById } from '../../src/delivery/send-run.repository.ts';
import { importPapersFile, sampleDataFile } from '../../src/papers/import-file.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { waitFor } from '../helpers/wait-for.ts';

const DAY = '2025-12-26';

describe('the whole loop: subscribe → confirm → digest → one-click unsubscribe', () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService();
    await importPapersFile(t.service.db, sampleDataFile);
  });
  afterAll(async () => t?.stop());

  const form = (body: Record<string, string>) =>
    fetch(`${t.baseUrl}/subscribe`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
      body: new URLSearchParams(body).toString(),
    });

  const sendDigest = async (day: string) => {
    const { edition, run } = await t.service.services.requestDailyDigest(day);
    await waitFor(async () => (await findSendRunById(t.service.db, run!.id))?.status === 'sent', { what: `edition ${edition.id} sent` });
    return { ...edition, runId: run!.id };
  };

  const confirmLinkFrom = (text: string) => {
    const match = /https:\/\/papers\.example\.test(\/confirm\/[A-Za-z0-9_-]+)/.exec(text);
    if (!match) throw new Error(`no confirmation link in:\n${text}`);
    return match[1]!;
  };

  it('walks the whole flow over HTTP, SMTP and the queue', async () => {
    const email = 'Ada.Lovelace+papers@Example.COM';
    const stored = 'Ada.Lovelace+papers@example.com';

    const subscribed = await form({ email, topics: 'diffusion, Robotics', timeZone: 'Europe/Berlin' });
    expect(subscribed.status).toBe(200);
    expect(await subscribed.text()).toContain('Check your inbox');

    const [confirmation] = await waitFor(() => (t.sink.to(stored).length > 0 ? t.sink.to(stored) : undefined), { what: 'confirmation email' });
    expect(confirmation!.parsed.subject).toBe('Confirm your Paperboy subscription');
    expect(confirmation!.parsed.text).toContain('https://papers.example.test/confirm/');
    expect(confirmation!.parsed.html).toContain('lang="en"');
    const confirmPath = confirmLinkFrom(confirmation!.parsed.text!);

    // Opening the link (what a scanner does) changes nothing.
    const opened = await fetch(`${t.baseUrl}${confirmPath}`);
    expect(opened.status).toBe(200);
    expect(await opened.text()).toContain('Confirm subscription');
    const pending = await t.service.db.selectFrom('subscribers').selectAll().where('email', '=', stored).executeTakeFirstOrThrow();
    expect(pending.status).toBe('pending');
    expect(pending.topics).toEqual(['diffusion', 'robotics']);
    expect(pending.time_zone).toBe('Europe/Berlin');

    const confirmed = await fetch(`${t.baseUrl}${confirmPath}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '' });
    expect(confirmed.status).toBe(200);
    expect(await confirmed.text()).toContain('You are subscribed');
    const again = await fetch(`${t.baseUrl}${confirmPath}`, { method: 'POST' });
    expect(again.status).toBe(200);
    const active = await t.service.db.selectFrom('subscribers').selectAll().where('email', '=', stored).executeTakeFirstOrThrow();
    expect(active.status).toBe('active');
    expect(active.time_zone).toBe('Europe/Berlin');
    const history = await t.service.db.selectFrom('consent_events').selectAll().where('subscriber_id', '=', active.id).orderBy('id').execute();
    expect(history.map((e) => [e.kind, e.ip, e.source])).toEqual([['subscribed', '127.0.0.1', 'web'], ['confirmed', '127.0.0.1', 'confirmation link']]);

    const edition = await sendDigest(DAY);
    // Her welcome edition (queued when she confirmed) may be what brings it, if its job ran after
    // the edition was built: either way, one digest of this edition.
    const digestsOf = () => t.sink.to(stored).filter((m) => m.parsed.subject?.startsWith('Trending papers'));
    await waitFor(() => digestsOf().length > 0, { what: 'her digest' });
    const digests = digestsOf();
    expect(digests).toHaveLength(1);
    const digest = digests[0]!;

    // The day's papers, by upvotes then comments then id.
    const expectedOrder = await t.service.db
      .selectFrom('papers')
      .select('arxiv_id')
      .where('featured_on', '=', DAY)
      .orderBy('upvotes', 'desc')
      .orderBy('comments', 'desc')
      .orderBy('arxiv_id')
      .execute();
    const dayIds = expectedOrder.map((p) => p.arxiv_id).slice(0, t.config.digestMaxPapers);
    expect(edition.paper_ids.slice(0, dayIds.length)).toEqual(dayIds);
    // Then "Trending this week": papers of the days before, none of them twice.
    const trendingIds = edition.paper_ids.slice(dayIds.length);
    expect(trendingIds.length).toBeGreaterThan(0);
    expect(new Set(edition.paper_ids).size).toBe(edition.paper_ids.length);
    expect(digest.parsed.text).toContain('== Trending this week ==');
    const html = digest.parsed.html as string;
    // She follows diffusion: the day's diffusion papers come under "For you", with the reason, in
    // the variant of the edition she was sent (the ledger names it).
    expect(digest.parsed.text).toContain('== For you ==');
    expect(digest.parsed.text).toContain('Because you follow "diffusion"');
    const variant = await t.service.db
      .selectFrom('deliveries')
      .innerJoin('edition_variants as v', 'v.id', 'deliveries.variant_id')
      .select('v.paper_ids')
      .where('deliveries.subscriber_id', '=', active.id)
      .where('deliveries.edition_id', '=', edition.id)
      .executeTakeFirstOrThrow();
    expect([...variant.paper_ids].sort()).toEqual([...edition.paper_ids].sort());
    const positions = variant.paper_ids.map((id) => html.indexOf(`https://huggingface.co/papers/${id}`));
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    expect(digest.parsed.text).toContain('https://arxiv.org/pdf/');

    // RFC 2369 / 8058 headers, exactly once each.
    const listUnsubscribe = digest.headerLines('List-Unsubscribe');
    expect(listUnsubscribe).toHaveLength(1);
    expect(listUnsubscribe[0]).toMatch(/^<https:\/\/papers\.example\.test\/u\/[^<>\s]+>$/);
    expect(listUnsubscribe[0]).not.toMatch(/%40|@/);
    expect(digest.headerLines('List-Unsubscribe-Post')).toEqual(['List-Unsubscribe=One-Click']);
    expect(digest.headerLines('List-Id')).toHaveLength(1);
    expect(digest.headerLines('Message-ID')).toEqual([`<digest.e${edition.id}.s${active.id}@papers.example.test>`]);
    expect(html).toContain(listUnsubscribe[0]!.slice(1, -1).replace('https://papers.example.test', ''));
    // The footer also links to the person's data page (download or erase), with its own token.
    const preferencesPath = /https:\/\/papers\.example\.test(\/p\/[A-Za-z0-9._-]+)/.exec(digest.parsed.text ?? '')?.[1];
    expect(preferencesPath).toBeDefined();
    expect(html).toContain(`href="https://papers.example.test${preferencesPath}"`);
    expect((await fetch(`${t.baseUrl}${preferencesPath}`)).status).toBe(200);

    // One-click: a bare POST, form body, no cookies, no Origin: 2xx, no redirect.
    const unsubscribeUrl = listUnsubscribe[0]!.slice(1, -1).replace('https://papers.example.test', t.baseUrl);
    const oneClick = await fetch(unsubscribeUrl, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
    });
    expect(oneClick.status).toBe(200);
    expect(oneClick.headers.get('location')).toBeNull();
    const gone = await t.service.db.selectFrom('subscribers').selectAll().where('id', '=', active.id).executeTakeFirstOrThrow();
    expect(gone.status).toBe('unsubscribed');
    expect(gone.unsubscribe_source).toBe('one-click');

    // The next digest is not sent to them.
    const before = t.sink.messages.length;
    const next = await sendDigest('2025-12-25');
    expect(await countDeliveriesByStatus(t.service.db, next.runId)).toMatchObject({ sent: 0, queued: 0, sending: 0 });
    expect(t.sink.messages.length).toBe(before);

    // GET shows the state and offers a way back; resubscribing through the (old, forwardable)
    // link asks for a new opt-in, and only its confirmation subscribes again.
    const page = await fetch(unsubscribeUrl);
    expect(await page.text()).toContain('Resubscribe');
    const confirmations = () => t.sink.to(stored).filter((m) => m.parsed.subject === 'Confirm your Paperboy subscription');
    const sentBefore = confirmations().length;
    const back = await fetch(`${unsubscribeUrl}/resubscribe`, { method: 'POST' });
    expect(back.status).toBe(200);
    expect(await back.text()).toContain('Check your inbox');
    const status = async () => (await t.service.db.selectFrom('subscribers').select('status').where('id', '=', active.id).executeTakeFirstOrThrow()).status;
    expect(await status()).toBe('unsubscribed');
    const reconfirm = await waitFor(() => confirmations()[sentBefore], { what: 'resubscribe confirmation' });
    expect((await fetch(`${t.baseUrl}${confirmLinkFrom(reconfirm.parsed.text!)}`, { method: 'POST' })).status).toBe(200);
    expect(await status()).toBe('active');
    const kinds = await t.service.db.selectFrom('consent_events').select('kind').where('subscriber_id', '=', active.id).orderBy('id').execute();
    expect(kinds.map((k) => k.kind)).toEqual(['subscribed', 'confirmed', 'unsubscribed', 'resubscribed', 'confirmed']);
  });

  it('sends nothing the second time the same date is sent', async () => {
    const db = t.service.db;
    await db.insertInto('subscribers').values([
      { email: 'one@example.org', status: 'active' },
      { email: 'two@example.org', status: 'active' },
    ]).execute();
    const first = await sendDigest('2025-12-24');
    const counts = await countDeliveriesByStatus(db, first.runId);
    // By Message-ID, not subject: a reader who already got some of its papers (the first test's)
    // gets a variant without them, whose subject names another paper.
    const ofEdition = () => t.sink.messages.filter((m) => m.parsed.messageId?.startsWith(`<digest.e${first.id}.`)).length;
    const sentFirst = ofEdition();
    expect(sentFirst).toBe(counts.sent);
    expect(counts.sent).toBeGreaterThanOrEqual(2);

    const second = await sendDigest('2025-12-24');
    expect(second.id).toBe(first.id);
    expect(second.runId).toBe(first.runId);
    // Wait until no job the second request could have queued is waiting, delayed or running
    // (jobs of the schedulers aside: the reconcile job and the next daily run), then count again.
    await waitFor(
      async () => {
        const sendJobs = await t.service.queues.countPendingJobs('send');
        const digestJobs = await t.service.queues.byName.digest.getJobs(['waiting', 'delayed', 'active', 'prioritized', 'waiting-children']);
        return sendJobs === 0 && digestJobs.every((job) => job.name === 'reconcile-deliveries' || job.repeatJobKey !== undefined);
      },
      { what: 'no digest or send job pending' },
    );
    expect(await countDeliveriesByStatus(db, first.runId)).toEqual(counts);
    expect(ofEdition()).toBe(sentFirst);
    const ids = t.sink.messages.map((m) => m.parsed.messageId);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('does not send an edition for a day without papers', async () => {
    const { edition, run } = await t.service.services.requestDailyDigest('2024-01-01');
    expect(edition.status).toBe('empty');
    // No run, so no ledger row can exist for it.
    expect(run).toBeUndefined();
    expect(await t.service.db.selectFrom('send_runs').select('id').where('edition_id', '=', edition.id).execute()).toEqual([]);
  });
});
