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
});
