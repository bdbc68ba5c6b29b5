import { z } from 'zod';
import { cleanSourceValue } from './source-text.ts';

/**
 * One element of the Hugging Face Daily Papers API (`GET /api/daily_papers`), as far as Paperboy
 * reads it. Unknown keys are ignored; optional fields of the real API are optional here too.
 */
const arxivId = z
  .string()
  .trim()
  .transform((id) => id.replace(/v\d+$/, ''))
  .pipe(z.string().regex(/^(\d{4}\.\d{4,5}|[a-z-]+(\.[A-Z]{2})?\/\d{7})$/, 'not an arXiv id'));

const organization = z
  .object({ name: z.string().optional(), fullname: z.string().optional() })
  .partial()
  .nullish();

const isoDate = z.iso.datetime({ offset: true });
// The papers table stores counts as Postgres integer: a larger number would fail the whole batch.
const count = z.number().int().min(0).max(2_147_483_647);
const httpUrl = z.url({ protocol: /^https?$/ });

export const hfItemSchema = z.object({
  paper: z.object({
    id: arxivId,
    title: z.string().trim().min(1).max(1000),
    summary: z.string().max(20_000).default(''),
    authors: z
      .array(z.object({ name: z.string(), hidden: z.boolean().optional() }))
      .max(5000)
      .default([]),
    publishedAt: isoDate.optional(),
    submittedOnDailyAt: isoDate.optional(),
    upvotes: count.default(0),
    githubRepo: httpUrl.nullish(),
    githubStars: count.nullish(),
    projectPage: httpUrl.nullish(),
    ai_summary: z.string().nullish(),
    ai_keywords: z.array(z.string()).nullish(),
    withdrawnAt: isoDate.nullish(),
    organization,
  }),
  publishedAt: isoDate.optional(),
  numComments: count.default(0),
  thumbnail: httpUrl.nullish(),
  organization,
});

export type HfItem = z.infer<typeof hfItemSchema>;

/** What the papers table stores from any source. */
export interface PaperRecord {
  arxivId: string;
  title: string;
  abstract: string;
  authors: string[];
  organization: string | null;
  publishedAt: Date | null;
  featuredOn: string | null;
  upvotes: number;
  comments: number;
  githubUrl: string | null;
  projectUrl: string | null;
  thumbnailUrl: string | null;
  withdrawnAt: Date | null;
  /** Optional so records built before these fields existed stay valid; undefined keeps what is stored. */
  aiSummary?: string | null;
  aiKeywords?: string[] | null;
  githubStars?: number | null;
}

const collapseWhitespace = (text: string) => text.replace(/\s+/g, ' ').trim();

export function paperRecordFromHfItem(item: HfItem): PaperRecord {
  const { paper } = item;
  const org = item.organization ?? paper.organization;
  const featuredAt = paper.submittedOnDailyAt ?? item.publishedAt;
  return {
    arxivId: paper.id,
    title: collapseWhitespace(paper.title),
    abstract: collapseWhitespace(paper.summary),
    authors: paper.authors.filter((a) => !a.hidden).map((a) => collapseWhitespace(a.name)).filter(Boolean),
    organization: org?.fullname ?? org?.name ?? null,
    publishedAt: paper.publishedAt ? new Date(paper.publishedAt) : null,
    featuredOn: featuredAt ? featuredAt.slice(0, 10) : null,
    upvotes: paper.upvotes,
    comments: item.numComments,
    githubUrl: paper.githubRepo ?? null,
    projectUrl: paper.projectPage ?? null,
    thumbnailUrl: item.thumbnail ?? null,
    withdrawnAt: paper.withdrawnAt ? new Date(paper.withdrawnAt) : null,
    aiSummary: paper.ai_summary ? collapseWhitespace(paper.ai_summary) || null : null,
    aiKeywords: paper.ai_keywords ? paper.ai_keywords.map(collapseWhitespace).filter(Boolean) : null,
    githubStars: paper.githubStars ?? null,
  };
}

export interface ParsedBatch {
  records: PaperRecord[];
  invalid: { index: number; reason: string }[];
}

/**
 * Validates every item; an invalid item is reported with its index and skipped. Control
 * characters are removed from every string first (source-text.ts), so a stray NUL in one abstract
 * costs that character, not the item or the batch.
 */
export function parseHfItems(items: unknown[]): ParsedBatch {
  const records: PaperRecord[] = [];
  const invalid: ParsedBatch['invalid'] = [];
  items.forEach((item, index) => {
    const parsed = hfItemSchema.safeParse(cleanSourceValue(item));
    if (parsed.success) records.push(paperRecordFromHfItem(parsed.data));
    else
      invalid.push({
        index,
        reason: parsed.error.issues.map((i) => `${i.path.join('.') || '(item)'}: ${i.message}`).join('; '),
      });
  });
  return { records, invalid };
}
