import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findSendRunById } from '../../src/delivery/send-run.repository.ts';
import { importPapersFile, sampleDataFile } from '../../src/papers/import-file.ts';
import { updatePreferences } from '../../src/subscribers/preferences.ts';
import type { ReceivedMessage } from '../helpers/smtp-sink.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { waitFor } from '../helpers/wait-for.ts';

const DAYS = ['2025-12-22', '2025-12-23', '2025-12-24', '2025-12-25', '2025-12-26'];

/** The arXiv ids a digest shows, in order, and the "because you follow" label of each. */
function papersIn(message: ReceivedMessage): { ids: string[]; because: Map<string, string>; sections: string[] } {
  const text = message.parsed.text ?? '';
  const ids = [...text.matchAll(/^ {3}arXiv: https:\/\/arxiv\.org\/abs\/(\S+)$/gm)].map((m) => decodeURIComponent(m[1]!));
  const because = new Map<string, string>();
  for (const block of text.split(/\n(?=\d+\. )/)) {
    const label = /^ {3}Because you follow "(.+)"$/m.exec(block)?.[1];
    const id = /arXiv: https:\/\/arxiv\.org\/abs\/(\S+)/.exec(block)?.[1];
    if (label && id) because.set(decodeURIComponent(id), label);
  }
  const sections = [...text.matchAll(/^== (.+) ==$/gm)].map((m) => m[1]!);
  return { ids, because, sections };
}

describe('personal digests: "For you", no repeats, only my topics (issue #10)', () => {
  let t: TestService;
  const reader: Record<string, number> = {};
  beforeAll(async () => {
    t = await startTestService();
    await importPapersFile(t.service.db, sampleDataFile);
    const add = async (email: string, values: { topics?: string[]; only_my_topics?: boolean }) =>
      (await t.service.db.insertInto('subscribers').values({ email, status: 'active', confirmed_at: new Date(), ...values }).returning('id').executeTakeFirstOrThrow()).id;
    reader.diffusion = await add('diffusion@example.org', { topics: ['diffusion'] });
    reader.video = await add('video@example.org', { topics: ['video generation', '"image generation"'] });
    reader.plain = await add('plain@example.org', {});
    reader.nothing = await add('nothing@example.org', { topics: ['quantum chromodynamics'], only_my_topics: true });
    reader.only = await add('only@example.org', { topics: ['diffusion'], only_my_topics: true });
  }, 60_000);
  afterAll(async () => t?.stop());

  const send = async (day: string) => {
    const { edition, run } = await t.service.services.requestDailyDigest(day);
    await waitFor(async () => (await findSendRunById(t.service.db, run!.id))?.status === 'sent', { what: `edition of ${day} sent` });
    return edition;
  };
  const digestsTo = (email: string) => t.sink.to(email).filter((m) => m.parsed.messageId?.startsWith('<digest.'));

  it('gives two readers with different topics different "For you" sections with the right labels', async () => {
    const edition = await send(DAYS[0]!);
    const [diffusion] = digestsTo('diffusion@example.org');
    const [video] = digestsTo('video@example.org');
    const [plain] = digestsTo('plain@example.org');
    const d = papersIn(diffusion!);
    const v = papersIn(video!);
    expect(d.sections).toContain('For you');
    expect(v.sections).toContain('For you');
    expect([...d.because.values()].every((l) => l === 'diffusion')).toBe(true);
    expect(d.because.size).toBeGreaterThan(0);
    expect(new Set(v.because.values())).not.toContain('diffusion');
    expect(v.because.size).toBeGreaterThan(0);
    expect([...d.because.keys()]).not.toEqual([...v.because.keys()]);
    // The labels name a topic that matches the paper: 2511.08923 is "TiDAR: Think in Diffusion, …".
    expect(d.because.get('2511.08923')).toBe('diffusion');
    expect(diffusion!.parsed.html).toContain('Because you follow <em>diffusion</em>');
    // A reader without topics gets the edition itself, with no "For you" section.
    expect(papersIn(plain!).sections).not.toContain('For you');
    expect(plain!.parsed.subject).toBe(edition.subject);
    // Only-my-topics: nothing but their matches; with nothing matching, no email at all.
    const only = papersIn(digestsTo('only@example.org')[0]!);
    expect(only.sections).toEqual(['For you']);
    expect(digestsTo('nothing@example.org')).toEqual([]);
    // Each distinct selection rendered once: variants ≤ distinct selections among the ledger rows.
    const variants = await t.service.db.selectFrom('edition_variants').select('id').where('edition_id', '=', edition.id).execute();
    const distinct = await t.service.db.selectFrom('deliveries').select('variant_id').distinct().where('edition_id', '=', edition.id).where('variant_id', 'is not', null).execute();
    expect(variants.length).toBe(distinct.length);
  });

  it('never sends a reader the same paper twice over five consecutive days, and a preference change applies from the next edition', async () => {
    for (const day of DAYS.slice(1)) {
      if (day === '2025-12-24') await updatePreferences(t.service.db, reader.video!, { topics: ['diffusion'] });
      await send(day);
    }
    for (const email of ['diffusion@example.org', 'video@example.org', 'plain@example.org', 'only@example.org']) {
      const digests = digestsTo(email);
      expect(digests.length, email).toBeGreaterThanOrEqual(3);
      const all = digests.flatMap((m) => papersIn(m).ids);
      expect(all.length).toBeGreaterThan(0);
      expect(all.filter((id, i) => all.indexOf(id) !== i), email).toEqual([]);
    }
    // The ledger agrees with the mailbox: delivery → variant (or edition) → papers, no repeats.
    const { rows } = await import('kysely').then(({ sql }) =>
      sql<{ n: number }>`
        select count(*)::int as n from (
          select d.subscriber_id, x.id from deliveries d join editions e on e.id = d.edition_id
          left join edition_variants v on v.id = d.variant_id
          cross join lateral unnest(coalesce(v.paper_ids, e.paper_ids)) as x(id)
          group by d.subscriber_id, x.id having count(*) > 1) repeats`.execute(t.service.db),
    );
    expect(rows[0]!.n).toBe(0);
    // Before the change the video reader's labels were theirs; from 24 December on, "diffusion".
    const video = digestsTo('video@example.org').map((m) => ({ date: m.parsed.subject ?? '', labels: new Set(papersIn(m).because.values()) }));
    expect(video.length).toBe(5);
    expect(video[0]!.labels.has('diffusion')).toBe(false);
    const after = video.slice(2).filter((m) => m.labels.size > 0);
    expect(after.length).toBeGreaterThan(0);
    expect(after.every((m) => [...m.labels].every((l) => l === 'diffusion'))).toBe(true);
    // One message per reader per edition.
    const ids = t.sink.messages.map((m) => m.parsed.messageId);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
