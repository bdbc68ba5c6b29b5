import type { DigestPaper } from '../../src/editions/render-digest.ts';

/** A paper as a digest card gets it, with plain defaults; tests set what they look at. */
export const digestPaper = (overrides: Partial<DigestPaper> = {}): DigestPaper => ({
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
