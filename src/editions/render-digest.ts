import { loadTemplate, mjmlToHtml } from '../email/templates.ts';
import type { Paper } from '../papers/paper.table.ts';
import type { CardSignals } from '../papers/trending.ts';

/** A paper as a card shows it: momentum and AI summary when known (findCardSignals). */
export type DigestPaper = Paper & Partial<CardSignals>;

export interface DigestSection {
  title: string;
  papers: DigestPaper[];
  /** "For you": the reader's topic each paper matched, by arxiv id ("because you follow …"). */
  because?: ReadonlyMap<string, string>;
}

export interface RenderedDigest {
  subject: string;
  /** Contains `%%UNSUBSCRIBE_URL%%`, filled per recipient. */
  html: string;
  text: string;
}

const MAX_AUTHORS = 3;
const EXCERPT_CHARS = 320;
/** Hugging Face's summaries are a sentence or two; the cap keeps a long one from crowding the card. */
const AI_SUMMARY_CHARS = 280;

/** `%%NAME%%` marks per-recipient values; paper text must never be able to produce one. */
const defuseMarkers = (text: string) => text.replace(/%%/g, '%\u200b%');

export function formatAuthors(authors: readonly string[]): string {
  if (authors.length === 0) return 'Unknown authors';
  if (authors.length <= MAX_AUTHORS) return authors.join(', ');
  return `${authors.slice(0, MAX_AUTHORS).join(', ')} et al.`;
}

export function excerpt(text: string, maxChars = EXCERPT_CHARS): string {
  const clean = text.replace(/\s+/g, ' ').trim();
  if (clean.length <= maxChars) return clean;
  const cut = clean.slice(0, maxChars);
  const lastSpace = cut.lastIndexOf(' ');
  return `${(lastSpace > maxChars * 0.6 ? cut.slice(0, lastSpace) : cut).replace(/[\s.,;:]+$/, '')}…`;
}

export function formatDigestDate(day: string): string {
  return new Intl.DateTimeFormat('en-GB', {
    weekday: 'long',
    day: 'numeric',
    month: 'long',
    year: 'numeric',
    timeZone: 'UTC',
  }).format(new Date(`${day}T00:00:00Z`));
}

const plural = (n: number, one: string, many: string) => (n === 1 ? one : many);

/** "+38 upvotes today" when the paper rose in the last 24 hours, else null (nothing to show). */
export function momentumLabel(growth: number | undefined): string | null {
  if (!growth || growth <= 0) return null;
  return `+${growth} ${plural(growth, 'upvote', 'upvotes')} today`;
}

/**
 * HTML whitespace as the minifier leaves it in text (runs collapsed, ends trimmed): the head's
 * title and preheader and a card's label are then the same whether MJML or digest-splice.ts writes them.
 */
const collapseSpace = (text: string) => text.replace(/[ \t\n\r\f]+/g, ' ').trim();

export function paperView(paper: DigestPaper, number: number, because?: string) {
  const id = encodeURIComponent(paper.arxiv_id);
  const aiSummary = paper.aiSummary?.replace(/\s+/g, ' ').trim();
  return {
    number,
    because: because ? defuseMarkers(collapseSpace(because)) || null : null,
    title: defuseMarkers(paper.title),
    authors: defuseMarkers(formatAuthors(paper.authors)),
    organization: paper.organization ? defuseMarkers(paper.organization) : null,
    upvotes: paper.upvotes,
    upvoteWord: plural(paper.upvotes, 'upvote', 'upvotes'),
    comments: paper.comments,
    commentWord: plural(paper.comments, 'comment', 'comments'),
    momentum: momentumLabel(paper.upvoteGrowth24h),
    aiSummary: aiSummary ? defuseMarkers(excerpt(aiSummary, AI_SUMMARY_CHARS)) : null,
    excerpt: defuseMarkers(excerpt(paper.abstract)),
    paperUrl: `https://huggingface.co/papers/${id}`,
    absUrl: `https://arxiv.org/abs/${id}`,
    pdfUrl: `https://arxiv.org/pdf/${id}`,
    githubUrl: safeHttpUrl(paper.github_url),
    projectUrl: safeHttpUrl(paper.project_url),
  };
}

/** Only http(s) links reach an href; anything else (javascript:, data:) is dropped. */
function safeHttpUrl(value: string | null): string | null {
  if (!value) return null;
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:' ? defuseMarkers(url.toString()) : null;
  } catch {
    return null;
  }
}

export interface DigestInput {
  digestDate: string;
  sections: DigestSection[];
  publicUrl: string;
  /** The edition's public page ("view in browser"), e.g. /archive/2025-12-26. */
  archivePath: string;
  /** Instead of the digest day's date (a weekly edition names its week). */
  dateLabel?: string;
}

/** What the digest templates are given; digest-splice.ts builds the same view, so both agree. */
export function digestView(input: DigestInput) {
  const first = input.sections.flatMap((s) => s.papers)[0];
  const dateLabel = input.dateLabel ?? formatDigestDate(input.digestDate);
  const subject = first ? `Trending papers, ${dateLabel}: ${first.title}` : `Trending papers, ${dateLabel}`;
  let number = 0;
  return {
    /** As the Subject header carries it: one line, at most 250 characters. */
    headerSubject: subject.replace(/[\r\n]+/g, ' ').slice(0, 250),
    subject: defuseMarkers(collapseSpace(subject)),
    heading: 'Trending research papers',
    preheader: defuseMarkers(
      collapseSpace(
        input.sections
          .flatMap((s) => s.papers)
          .slice(0, 3)
          .map((p) => p.title)
          .join(' · '),
      ),
    ),
    dateLabel,
    publicUrl: input.publicUrl,
    archiveUrl: `${input.publicUrl}${input.archivePath}`,
    publicHost: new URL(input.publicUrl).host,
    sections: input.sections
      .filter((s) => s.papers.length > 0)
      .map((s) => ({ title: s.title, papers: s.papers.map((p) => paperView(p, ++number, s.because?.get(p.arxiv_id))) })),
  };
}

export type DigestView = ReturnType<typeof digestView>;

export function digestTemplates(): Promise<[mjml: HandlebarsTemplateDelegate, text: HandlebarsTemplateDelegate]> {
  return Promise.all([loadTemplate('email/digest.mjml.hbs'), loadTemplate('email/digest.txt.hbs', { escape: false })]);
}

/**
 * Renders a digest with one MJML call for the whole document: an edition's own content. The
 * variants of an edition are assembled from parts rendered once (digest-splice.ts) and equal this.
 */
export async function renderDigest(input: DigestInput): Promise<RenderedDigest> {
  const view = digestView(input);
  const [mjml, text] = await digestTemplates();
  const html = await mjmlToHtml(mjml(view));
  return { subject: view.headerSubject, html, text: text(view) };
}
