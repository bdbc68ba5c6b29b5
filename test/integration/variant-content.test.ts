import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simpleParser } from 'mailparser';
import { assembleDigest, compileDigestMime } from '../../src/delivery/digest-mime.ts';
import { contentHtml } from '../../src/delivery/digest-transport.ts';
import { RunContentCache } from '../../src/delivery/sender.ts';
import { DigestSplicer } from '../../src/editions/digest-splice.ts';
import type { Edition } from '../../src/editions/edition.table.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { digestPaper } from '../helpers/digest-papers.ts';

const context = { publicUrl: 'https://papers.example.test', mailFrom: { name: 'Paperboy', address: 'digest@papers.example.test' }, listId: 'digest.papers.example.test' };
const papers = Array.from({ length: 5 }, (_, i) => digestPaper({ arxiv_id: `2512.3000${i}`, title: `Paper ${i} — ünïcødé`, upvotes: i }));

describe('what a sender reads for a variant (edition_variants, edition_parts)', () => {
  let testDb: TestDatabase;
  let edition: Edition;
  beforeAll(async () => {
    testDb = await createTestDatabase();
    edition = await testDb.db
      .insertInto('editions')
      .values({ digest_date: '2025-12-26', status: 'ready', subject: 'Trending papers', paper_ids: [], html_template: '<p>edition</p>', text_template: 'edition' })
      .returningAll()
      .executeTakeFirstOrThrow();
  });
  afterAll(async () => testDb?.drop());

  it('reads a layout variant with its parts, and a variant stored whole before parts, to the same digest', async () => {
    const splicer = new DigestSplicer({ digestDate: '2025-12-26', publicUrl: context.publicUrl, archivePath: '/archive/2025-12-26' });
    const sections = [
      { title: 'Top papers of the day', papers: papers.slice(0, 3) },
      { title: 'For you', papers: [papers[4]!], because: new Map([[papers[4]!.arxiv_id, 'diffusion']]) },
    ];
    const composed = await splicer.compose(sections);
    const whole = await splicer.render(sections);
    const db = testDb.db;
    await db.insertInto('edition_parts').values([...composed.parts].map(([key, html]) => ({ edition_id: edition.id, key, html }))).execute();
    const row = (key: string, html: { html_template: string | null; html_layout: string | null }) => ({
      edition_id: edition.id, selection_key: key, paper_ids: [], for_you: '[]', subject: composed.subject, text_template: composed.text, ...html,
    });
    const [layoutVariant, wholeVariant] = await db
      .insertInto('edition_variants')
      .values([row('layout', { html_template: null, html_layout: JSON.stringify(composed.layout) }), row('whole', { html_template: whole.html, html_layout: null })])
      .returning('id')
      .execute();
    // Neither the layout nor the whole HTML alone: the database refuses it.
    await expect(db.insertInto('edition_variants').values(row('neither', { html_template: null, html_layout: null })).execute()).rejects.toThrow(/edition_variants_html/);

    const cache = new RunContentCache();
    await cache.load(db, edition, [layoutVariant!.id, wholeVariant!.id, null]);
    const fromLayout = await cache.content(db, edition, layoutVariant!.id);
    const fromWhole = await cache.content(db, edition, wholeVariant!.id);
    expect(fromLayout.html_template).toBeNull();
    expect(fromLayout.layout?.parts.size).toBe(composed.parts.size);
    expect(contentHtml(fromLayout)).toBe(whole.html);
    expect(contentHtml(fromWhole)).toBe(whole.html);
    expect(await cache.content(db, edition, null)).toBe(edition);

    const values = { UNSUBSCRIBE_URL: 'https://papers.example.test/u/1.1.x', PREFERENCES_URL: 'https://papers.example.test/p/1.1.y' };
    const bodies = [];
    for (const content of [fromLayout, fromWhole]) {
      const raw = assembleDigest(compileDigestMime(content, context), { subscriberId: 1, email: 'r@example.org', values })!.raw;
      bodies.push((await simpleParser(raw)).html);
    }
    expect(bodies[0]).toBe(bodies[1]);
    expect(bodies[0]).toContain('Because you follow <em>diffusion</em>');
  });

  it('fails loudly when a part a variant names is not stored, rather than sending a digest with a hole', async () => {
    const db = testDb.db;
    const [variant] = await db
      .insertInto('edition_variants')
      .values({ edition_id: edition.id, selection_key: 'hole', paper_ids: [], for_you: '[]', subject: 's', text_template: 't', html_template: null, html_layout: JSON.stringify(['<p>', { part: 'not-stored' }]) })
      .returning('id')
      .execute();
    await expect(new RunContentCache().content(db, edition, variant!.id)).rejects.toThrow(/part not-stored not found/);
  });
});
