import { simpleParser } from 'mailparser';
import { describe, expect, it } from 'vitest';
import { assembleDigest, compileDigestMime } from '../../src/delivery/digest-mime.ts';
import { encodedPieceStats } from '../../src/delivery/encoded-pieces.ts';
import { DigestSplicer } from '../../src/editions/digest-splice.ts';
import type { DigestPaper } from '../../src/editions/render-digest.ts';
import { digestPaper } from '../helpers/digest-papers.ts';

const paper = (id: number): DigestPaper =>
  digestPaper({
    arxiv_id: `2512.${20000 + id}`,
    title: `Paper ${id}: Ünïcødé — ▲ = "quotes"`,
    abstract: `Abstract ${id}. ${'A long line of words that wraps when encoded. '.repeat(8)}`,
    upvotes: id,
  });

const context = { publicUrl: 'https://papers.example.test', mailFrom: { name: 'Paperboy', address: 'digest@papers.example.test' }, listId: 'digest.papers.example.test' };
const papers = Array.from({ length: 6 }, (_, i) => paper(i));

describe('variant HTML encoded piece by piece', () => {
  it('decodes to each variant exactly, and a second variant reuses the cards the first encoded', async () => {
    const splicer = new DigestSplicer({ digestDate: '2025-12-26', publicUrl: context.publicUrl, archivePath: '/archive/2025-12-26' });
    const a = await splicer.render([{ title: 'Top papers of the day', papers: papers.slice(0, 4) }]);
    const b = await splicer.render([
      { title: 'Top papers of the day', papers: papers.slice(1, 5) },
      { title: 'For you', papers: [papers[5]!], because: new Map([[papers[5]!.arxiv_id, 'robot learning']]) },
    ]);
    const url = 'https://papers.example.test/u/1a.1.abcdef';
    const values = { UNSUBSCRIBE_URL: url, PREFERENCES_URL: 'https://papers.example.test/p/1a.1.xyz' };
    const before = encodedPieceStats();
    const first = compileDigestMime({ id: 1, ...a, html_template: a.html, text_template: a.text }, context, { dotStuffed: false });
    const afterFirst = encodedPieceStats();
    const second = compileDigestMime({ id: 1, ...b, html_template: b.html, text_template: b.text }, context, { dotStuffed: false });
    const afterSecond = encodedPieceStats();
    // Papers 1-3 and the section title "Top papers of the day" were encoded with the first variant.
    expect(afterSecond.hits - afterFirst.hits).toBeGreaterThanOrEqual(4);
    expect(afterFirst.misses - before.misses).toBeGreaterThanOrEqual(5);
    for (const [compiled, rendered] of [[first, a], [second, b]] as const) {
      const raw = assembleDigest(compiled, { subscriberId: 7, email: 'reader@example.org', values }, 'Fri, 27 Nov 2026 06:00:00 +0000')!.raw.toString('latin1');
      const parsed = await simpleParser(raw);
      expect(parsed.html).toBe(rendered.html.replaceAll('%%UNSUBSCRIBE_URL%%', url).replaceAll('%%PREFERENCES_URL%%', values.PREFERENCES_URL));
      expect(parsed.text).toBe(rendered.text.replaceAll('%%UNSUBSCRIBE_URL%%', url).replaceAll('%%PREFERENCES_URL%%', values.PREFERENCES_URL));
      for (const line of raw.split('\r\n\r\n').slice(1).join('\r\n\r\n').split('\r\n')) expect(line.length).toBeLessThanOrEqual(76);
    }
  });

  it('compiles a variant stored as a layout of parts to the same digest, each part encoded once per process', async () => {
    const splicer = new DigestSplicer({ digestDate: '2025-12-27', publicUrl: context.publicUrl, archivePath: '/archive/2025-12-27' });
    const label = 'robot learning %%UNSUBSCRIBE_URL%% <b>';
    const variants = [
      [{ title: 'Top papers of the day', papers: papers.slice(0, 4) }],
      [
        { title: 'Top papers of the day', papers: papers.slice(1, 5) },
        { title: 'For you', papers: [papers[5]!, papers[0]!], because: new Map([[papers[5]!.arxiv_id, label], [papers[0]!.arxiv_id, 'x']]) },
      ],
    ];
    const url = 'https://papers.example.test/u/2b.1.abcdef';
    const values = { UNSUBSCRIBE_URL: url, PREFERENCES_URL: 'https://papers.example.test/p/2b.1.xyz' };
    const stats: ReturnType<typeof encodedPieceStats>[] = [encodedPieceStats()];
    for (const [i, sections] of variants.entries()) {
      const composed = await splicer.compose(sections);
      const whole = await splicer.render(sections);
      // Parts are whole cards and frame pieces; the variant's own strings stay in the layout.
      expect(composed.layout.filter((item) => typeof item !== 'string').length).toBeGreaterThanOrEqual(sections.flatMap((s) => s.papers).length);
      for (const dotStuffed of [false, true]) {
        const compiled = compileDigestMime({ id: 2, subject: composed.subject, html_template: null, layout: { items: composed.layout, parts: composed.parts }, text_template: composed.text }, context, { dotStuffed });
        if (!dotStuffed) stats.push(encodedPieceStats());
        let raw = assembleDigest(compiled, { subscriberId: 8 + i, email: 'reader@example.org', values }, 'Fri, 27 Nov 2026 06:00:00 +0000')!.raw.toString('latin1');
        // What the server stores once it undoes the dot-stuffing (RFC 5321 §4.5.2).
        if (dotStuffed) raw = raw.replace(/\r\n\./g, '\r\n');
        for (const line of raw.split('\r\n\r\n').slice(1).join('\r\n\r\n').split('\r\n')) expect(line.length).toBeLessThanOrEqual(76);
        const parsed = await simpleParser(raw);
        expect(parsed.html).toBe(whole.html.replaceAll('%%UNSUBSCRIBE_URL%%', url).replaceAll('%%PREFERENCES_URL%%', values.PREFERENCES_URL));
        expect(parsed.text).toBe(whole.text.replaceAll('%%UNSUBSCRIBE_URL%%', url).replaceAll('%%PREFERENCES_URL%%', values.PREFERENCES_URL));
      }
    }
    // The second variant's frame parts and papers 1-3 were encoded with the first.
    expect(stats[2]!.hits - stats[1]!.hits).toBeGreaterThanOrEqual(6);
    expect(stats[1]!.misses - stats[0]!.misses).toBeGreaterThanOrEqual(5);
  });
});
