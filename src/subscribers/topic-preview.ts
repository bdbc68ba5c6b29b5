import type { Executor } from '../db/database.ts';
import { findPapersForTopic } from '../papers/topic-search.ts';

/** "What would I get?": the papers of the last week of Daily Papers each topic matches. */
export const PREVIEW_DAYS = 7;
export const PREVIEW_PAPERS_PER_TOPIC = 5;

export interface TopicPreview {
  topic: string;
  papers: { arxivId: string; title: string; featuredOn: string | null; url: string }[];
}

/**
 * For each topic (validated by src/subscribers/topics.ts), its best matches among the papers
 * featured in the PREVIEW_DAYS days up to the newest featured day, ranked as the "for you" section
 * ranks them (src/papers/topic-search.ts). One indexed query per topic; at most ten topics.
 */
export async function previewTopics(db: Executor, topics: readonly string[]): Promise<TopicPreview[]> {
  const previews: TopicPreview[] = [];
  for (const topic of topics) {
    const matches = await findPapersForTopic(db, { topic, limit: PREVIEW_PAPERS_PER_TOPIC, days: PREVIEW_DAYS });
    previews.push({
      topic,
      papers: matches.map((p) => ({
        arxivId: p.arxiv_id,
        title: p.title,
        featuredOn: p.featured_on,
        url: `https://huggingface.co/papers/${encodeURIComponent(p.arxiv_id)}`,
      })),
    });
  }
  return previews;
}
