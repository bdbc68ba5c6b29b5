import { describe, expect, it } from 'vitest';
import { excerpt, formatAuthors, momentumLabel, renderDigest, type DigestPaper } from '../../src/editions/render-digest.ts';
import type { Paper } from '../../src/papers/paper.table.ts';
import { digestPaper } from '../helpers/digest-papers.ts';

const paper = (overrides: Partial<DigestPaper>): DigestPaper => digestPaper(overrides);

describe('renderDigest', () => {
  it('escapes paper text, keeps LaTeX-ish titles as text and cannot be tricked into markers', async () => {
    const rendered = await renderDigest({
      digestDate: '2025-12-26',
      publicUrl: 'https://papers.example.test',
      archivePath: '/archive/2025-12-26',
      sections: [
        {
          title: 'Top papers of the day',
          papers: [
            paper({ title: 'PanGu-$α$: <script>alert(1)</script> & "quotes" %%UNSUBSCRIBE_URL%%', abstract: '<img src=x onerror=alert(1)> body' }),
            paper({ arxiv_id: '2501.00002', title: 'Second', github_url: 'javascript:alert(1)', project_url: 'https://project.example/x?a=1&b=2' }),
          ],
        },
      ],
    });
    expect(rendered.html).not.toContain('<script>alert(1)');
    expect(rendered.html).not.toContain('<img src=x');
    expect(rendered.html).toContain('PanGu-$α$: &lt;script&gt;alert(1)&lt;/script&gt; &amp;');
    expect(rendered.html).not.toContain('javascript:');
    expect(rendered.html).toContain('href="https://project.example/x?a&#x3D;1&amp;b&#x3D;2"');
    expect(rendered.html.match(/%%UNSUBSCRIBE_URL%%/g)).toHaveLength(1);
    expect(rendered.text.match(/%%UNSUBSCRIBE_URL%%/g)).toHaveLength(1);
    expect(rendered.text).toContain('PanGu-$α$: <script>alert(1)</script>');
    expect(rendered.html).toMatch(/<html[^>]* lang="en"/);
    expect(rendered.subject).toMatch(/^Trending papers, Friday, 26 December 2025: /);
    // "View in browser" opens the edition's archive page, first in both parts.
    expect(rendered.html).toMatch(/<a href="https:\/\/papers\.example\.test\/archive\/2025-12-26"[^>]*>View in browser<\/a>/);
    expect(rendered.html.indexOf('View in browser')).toBeLessThan(rendered.html.indexOf('Top papers of the day'));
    expect(rendered.text.split('\n')[0]).toBe('View in browser: https://papers.example.test/archive/2025-12-26');
    expect(rendered.subject).not.toMatch(/[\r\n]/);
  });

  it('has a hidden preheader, no images without alt text and stays below the Gmail clip size', async () => {
    const papers = Array.from({ length: 10 }, (_, i) => paper({ arxiv_id: `2501.0001${i}`, title: `Paper ${i}`, abstract: 'word '.repeat(400) }));
    const rendered = await renderDigest({ digestDate: '2025-12-26', publicUrl: 'https://p.example', archivePath: '/archive/2025-12-26', sections: [{ title: 'Top', papers }] });
    expect(rendered.html).toMatch(/<div style="display:none;[^"]*">Paper 0 · Paper 1 · Paper 2<\/div>/);
    expect(rendered.html).not.toMatch(/<img(?![^>]*alt="[^"]+")/);
    expect(Buffer.byteLength(rendered.html)).toBeLessThan(100 * 1024);
  });
});

describe('digest cards', () => {
  it('show 24-hour momentum and the AI summary in both parts, and nothing for a paper without them', async () => {
    const rendered = await renderDigest({
      digestDate: '2025-12-26',
      publicUrl: 'https://p.example',
      archivePath: '/archive/2025-12-26',
      sections: [
        {
          title: 'Top papers of the day',
          papers: [
            paper({ arxiv_id: '2501.00001', title: 'Rising', upvotes: 40, upvoteGrowth24h: 38, aiSummary: 'It  <b>beats</b> the\nbaseline %%UNSUBSCRIBE_URL%%.' }),
            paper({ arxiv_id: '2501.00002', title: 'One more', upvotes: 2, upvoteGrowth24h: 1, aiSummary: null }),
            paper({ arxiv_id: '2501.00003', title: 'Flat', upvotes: 9, upvoteGrowth24h: 0 }),
          ],
        },
      ],
    });
    const textCards = rendered.text.split(/\n(?=\d+\. )/).slice(1);
    expect(textCards[0]).toContain('40 upvotes (+38 upvotes today)');
    expect(textCards[0]).toContain('In short: It <b>beats</b> the baseline %\u200b%UNSUBSCRIBE_URL%\u200b%. (AI summary by Hugging Face)');
    expect(textCards[1]).toContain('2 upvotes (+1 upvote today)');
    expect(textCards[1]).not.toContain('In short');
    expect(textCards[2]).not.toMatch(/today|In short/);
    expect(rendered.html).toContain('<span class="momentum">+38 upvotes today</span>');
    expect(rendered.html).toContain('It &lt;b&gt;beats&lt;/b&gt; the baseline');
    expect(rendered.html.match(/AI summary by Hugging Face/g)).toHaveLength(1);
    expect(rendered.html.match(/ today</g)).toHaveLength(2);
    expect(rendered.html.match(/%%UNSUBSCRIBE_URL%%/g)).toHaveLength(1);
  });

  it('momentumLabel: only a rise is news', () => {
    expect(momentumLabel(undefined)).toBeNull();
    expect(momentumLabel(0)).toBeNull();
    expect(momentumLabel(-3)).toBeNull();
    expect(momentumLabel(1)).toBe('+1 upvote today');
    expect(momentumLabel(38)).toBe('+38 upvotes today');
  });
});

describe('formatting helpers', () => {
  it('lists the first three authors, then et al.', () => {
    expect(formatAuthors([])).toBe('Unknown authors');
    expect(formatAuthors(['A', 'B', 'C'])).toBe('A, B, C');
    expect(formatAuthors(['A', 'B', 'C', 'D'])).toBe('A, B, C et al.');
  });
  it('cuts abstracts at a word boundary with an ellipsis', () => {
    expect(excerpt('short')).toBe('short');
    const long = excerpt('alpha beta gamma delta '.repeat(50), 50);
    expect(long.length).toBeLessThanOrEqual(51);
    expect(long.endsWith('…')).toBe(true);
    expect(long).not.toMatch(/\s…$/);
  });
});
