import { describe, expect, it } from 'vitest';
import { renderDigest } from '../../src/editions/render-digest.ts';
import type { Paper } from '../../src/papers/paper.table.ts';
import { renderConfirmationEmail } from '../../src/subscribers/confirmation-email.ts';

const paper: Paper = {
  arxiv_id: '2501.00001',
  title: 'A paper',
  abstract: 'An abstract.',
  authors: ['A. Author'],
  organization: 'Lab',
  published_at: null,
  featured_on: '2025-12-26',
  upvotes: 3,
  comments: 1,
  github_url: 'https://github.com/example/code',
  project_url: 'https://project.example/x',
  thumbnail_url: 'https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/2501.00001.png',
  withdrawn_at: null,
  first_seen_at: new Date(),
  updated_at: new Date(),
} as Paper;

/**
 * Everything in the HTML a mail client would fetch by itself: every URL left once links (<a>,
 * followed only when the reader clicks, and their text) and XML namespace names are set aside.
 */
function automaticFetches(html: string): string[] {
  const withoutLinks = html.replace(/<a\b[^>]*>[\s\S]*?<\/a>/gi, '<a></a>').replace(/\sxmlns(:\w+)?="[^"]*"/gi, '');
  return [...withoutLinks.matchAll(/(?:https?:)?\/\/[^\s"'()<>]+|@import[^;]*|url\([^)]*\)/gi)].map((m) => m[0]);
}

describe('mail loads nothing from anywhere', () => {
  // The first MJML render loads MJML itself: slow on a busy machine.
  it('the digest has no remote fonts, images, stylesheets or other automatic requests', { timeout: 120_000 }, async () => {
    const { html } = await renderDigest({ digestDate: '2025-12-26', publicUrl: 'https://papers.example.test', archivePath: '/archive/2025-12-26', sections: [{ title: 'Top papers of the day', papers: [paper] }] });
    expect(html).not.toMatch(/fonts\.googleapis|fonts\.gstatic/i);
    expect(automaticFetches(html)).toEqual([]);
  });

  it('the confirmation email neither', async () => {
    const { html } = await renderConfirmationEmail('https://papers.example.test/confirm/abc');
    expect(html).not.toMatch(/fonts\.googleapis|fonts\.gstatic/i);
    expect(automaticFetches(html)).toEqual([]);
  });
});
