import { describe, expect, it } from 'vitest';
import { DigestSplicer } from '../../src/editions/digest-splice.ts';
import { renderDigest, type DigestPaper, type DigestSection } from '../../src/editions/render-digest.ts';
import { digestPaper } from '../helpers/digest-papers.ts';

const paper = (id: number, overrides: Partial<DigestPaper> = {}): DigestPaper =>
  digestPaper({
    arxiv_id: `2512.${String(10000 + id)}`,
    title: `Paper ${id}`,
    abstract: `Abstract ${id}: ${'words and more words '.repeat(10)}`,
    authors: ['A. Author', 'B. Author'],
    upvotes: id,
    ...overrides,
  });

// Titles as the sources give them: line breaks and runs of spaces (arXiv), markup, quotes, LaTeX.
const papers = [
  paper(1, { title: 'PanGu-$α$: <b>big</b> & "quoted" \'single\' `tick` a=b', upvoteGrowth24h: 38, aiSummary: 'It  <b>beats</b>\nthe baseline.' }),
  paper(2, { title: '  Leading and\n    wrapped   title\t', github_url: 'https://github.com/x/y?a=1&b=2', organization: 'Org & Co' }),
  paper(3, { title: 'Ünïcødé — 日本語 %%UNSUBSCRIBE_URL%%', comments: 4, project_url: 'javascript:alert(1)' }),
  paper(4, { title: 'Plain', abstract: 'Short.' }),
  paper(5, { title: '' }),
  paper(6, { title: 'Six', upvotes: 1 }),
];

const base = { digestDate: '2025-12-26', publicUrl: 'https://papers.example.test', archivePath: '/archive/2025-12-26' };
const digests: DigestSection[][] = [
  [{ title: 'Top papers of the day', papers: [papers[0]!, papers[1]!] }, { title: 'Trending this week', papers: [papers[2]!] }],
  [
    { title: 'Top papers of the day', papers: [papers[3]!] },
    { title: 'For you', papers: [papers[0]!, papers[4]!], because: new Map([[papers[0]!.arxiv_id, ' robot  learning & "RL" <x> = `$&` '], [papers[4]!.arxiv_id, 'diffusion']]) },
    { title: 'Trending this week', papers: [papers[1]!, papers[5]!] },
  ],
  // The same paper with another label is another card; "only my topics": For you alone.
  [{ title: 'For you', papers: [papers[0]!], because: new Map([[papers[0]!.arxiv_id, 'diffusion']]) }],
  [{ title: 'For you', papers: [papers[4]!, papers[2]!], because: new Map([[papers[4]!.arxiv_id, 'x'], [papers[2]!.arxiv_id, 'y']]) }],
  [{ title: 'Top papers of the day', papers: [papers[2]!, papers[1]!, papers[0]!] }],
  // Nothing for the preview (MJML then writes none): rendered whole.
  [{ title: 'Top papers of the day', papers: [papers[4]!] }],
];

describe('DigestSplicer', () => {
  it('assembles each variant equal, byte for byte, to a full MJML render of the same selection', async () => {
    const splicer = new DigestSplicer(base);
    await splicer.prepare(digests.slice(0, 2));
    expect(splicer.mjmlRenders).toBe(1);
    for (const sections of digests) {
      const full = await renderDigest({ ...base, sections });
      const spliced = await splicer.render(sections);
      expect(spliced.subject).toBe(full.subject);
      expect(spliced.text).toBe(full.text);
      expect(spliced.html).toBe(full.html);
    }
    // A labelled card is rendered once per paper, whatever the topic: only the 4th digest has a
    // card not seen before (paper 3 labelled); the untitled digest is rendered whole.
    expect(splicer.mjmlRenders).toBe(3);
    for (const sections of digests.slice(0, -1)) await splicer.render(sections);
    expect(splicer.mjmlRenders).toBe(3);
  });

  it('renders a weekly frame (its own date label and section title) the same way', async () => {
    const weekly = { ...base, dateLabel: 'week 2025-W52 (from Monday, 22 December 2025)', archivePath: '/archive/weekly/2025-W52' };
    const sections = [{ title: 'Top papers of the week', papers: papers.slice(0, 4) }];
    const splicer = new DigestSplicer(weekly);
    expect(await splicer.render(sections)).toEqual(await renderDigest({ ...weekly, sections }));
  });

  it('renders many cards in few MJML calls (25 a call)', async () => {
    const many = Array.from({ length: 60 }, (_, i) => paper(100 + i));
    const splicer = new DigestSplicer(base);
    await splicer.prepare([[{ title: 'Top papers of the day', papers: many }]]);
    expect(splicer.mjmlRenders).toBe(3);
    expect(splicer.cardsRendered).toBe(60);
    const sections = [{ title: 'Top papers of the day', papers: [many[59]!, many[0]!, many[30]!] }];
    expect((await splicer.render(sections)).html).toBe((await renderDigest({ ...base, sections })).html);
  });
});
