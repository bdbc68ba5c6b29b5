import { describe, expect, it } from 'vitest';
import { excerpt, formatAuthors, renderDigest } from '../../src/editions/render-digest.ts';
import type { Paper } from '../../src/papers/paper.table.ts';

const paper = (overrides: Partial<Paper>): Paper => ({
  arxiv_id: '2501.00001',
  title: 'A paper',
  abstract: 'An abstract.',
  authors: ['A. Author'],
  organization: null,
  published_at: null,
  featured_on: '2025-12-26',
  upvotes: 3,
  comments: 0,
  github_url: null,
  project_url: null,
  thumbnail_url: null,
  withdrawn_at: null,
  first_seen_at: new Date(),
  updated_at: new Date(),
  ...overrides,
});

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
