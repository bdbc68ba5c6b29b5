import { sql } from 'kysely';
import type { Executor } from '../db/database.ts';
import { paperColumns } from '../papers/paper.repository.ts';
import type { Paper } from '../papers/paper.table.ts';
import { trendingScoreSql } from '../papers/trending.ts';
import { processInstruments } from '../ops/metrics.ts';
import { archivePath } from './archive-urls.ts';
import { editionAsOf, editionDateLabel, editionDays, sectionsOf, withCardSignals, type EditionSettings } from './edition.service.ts';
import type { Edition } from './edition.table.ts';
import { selectFor, selectionKey, selectionPaperIds, type Selection, type SelectionPools, type TopicMatchRow } from './personal-selection.ts';
import { renderDigest } from './render-digest.ts';

/** ts_rank_cd weights in {D, C, B, A} order, as the topic feeds (src/papers/topic-search.ts). */
const RANK_WEIGHTS = '{0.1, 0.2, 0.4, 1.0}';

/** The candidates an edition was cut from; editions built before variants: their own sections. */
export async function editionPools(db: Executor, edition: Edition): Promise<SelectionPools> {
  if (edition.top_pool && edition.trending_pool) return { top: edition.top_pool, trending: edition.trending_pool };
  const rows = await db.selectFrom('edition_papers').select(['arxiv_id', 'section']).where('edition_id', '=', edition.id).orderBy('position').execute();
  return { top: rows.filter((r) => r.section !== 'trending').map((r) => r.arxiv_id), trending: rows.filter((r) => r.section === 'trending').map((r) => r.arxiv_id) };
}

/** The edition's own selection: what a reader with the defaults and nothing received gets. */
export function baseSelection(pools: SelectionPools, settings: EditionSettings): Selection {
  return selectFor(pools, [], { onlyMyTopics: false, papersPerDigest: settings.maxPapers }, new Set());
}

/**
 * Every paper of the edition's period matching each of `topics`, in one statement for all the
 * topics of a send (set-based: never a query per reader). websearch_to_tsquery never raises, whatever
 * the topic; one with nothing to search for matches nothing. Relevance is ts_rank_cd over the
 * weighted `search` column (title > keywords > abstract), momentum the trending score as of the
 * end of the period, so every run of the edition ranks alike.
 */
export async function matchTopics(db: Executor, edition: Pick<Edition, 'kind' | 'digest_date'>, topics: readonly string[]): Promise<Map<string, TopicMatchRow[]>> {
  const byTopic = new Map<string, TopicMatchRow[]>();
  if (topics.length === 0) return byTopic;
  const days = editionDays(edition.kind, edition.digest_date);
  const asOf = editionAsOf(edition.kind, edition.digest_date);
  const { rows } = await sql<{ topic: string; arxiv_id: string; relevance: number; trending_score: number }>`
    select t.topic, papers.arxiv_id,
      ts_rank_cd(${RANK_WEIGHTS}::float4[], papers.search, q.query, 32) as relevance,
      ${trendingScoreSql(asOf)} as trending_score
    from unnest(${[...topics]}::text[]) as t(topic)
    cross join lateral (select websearch_to_tsquery('english', t.topic) as query) q
    join papers on papers.search @@ q.query
    where papers.featured_on = any(${days}::date[]) and papers.withdrawn_at is null`.execute(db);
  for (const row of rows) {
    const list = byTopic.get(row.topic) ?? [];
    list.push({ arxivId: row.arxiv_id, topic: row.topic, relevance: Number(row.relevance), trendingScore: Number(row.trending_score) });
    byTopic.set(row.topic, list);
  }
  return byTopic;
}

async function findPapers(db: Executor, ids: readonly string[]): Promise<Map<string, Paper>> {
  if (ids.length === 0) return new Map();
  const rows = await db.selectFrom('papers').select(paperColumns).where('arxiv_id', 'in', [...ids]).execute();
  return new Map(rows.map((p) => [p.arxiv_id, p]));
}

/**
 * The variant of `edition` showing `selection`: rendered (MJML) the first time that selection is
 * asked for, found by its key afterwards, by any process. Returns its id.
 */
export async function ensureVariant(db: Executor, edition: Edition, selection: Selection, settings: EditionSettings): Promise<number> {
  const key = selectionKey(selection);
  const found = await db.selectFrom('edition_variants').select('id').where('edition_id', '=', edition.id).where('selection_key', '=', key).executeTakeFirst();
  if (found) return found.id;
  const papers = await findPapers(db, selectionPaperIds(selection));
  const sections = sectionsOf(edition.kind, selection, await withCardSignals(db, edition.kind, edition.digest_date, selection, papers));
  const endRender = processInstruments().renderSeconds.startTimer();
  const rendered = await renderDigest({
    digestDate: edition.digest_date,
    sections,
    publicUrl: settings.publicUrl,
    archivePath: archivePath(edition.kind, edition.digest_date),
    dateLabel: editionDateLabel(edition.kind, edition.digest_date),
  });
  endRender();
  variantsRendered++;
  await db
    .insertInto('edition_variants')
    .values({
      edition_id: edition.id,
      selection_key: key,
      paper_ids: sections.flatMap((s) => s.papers.map((p) => p.arxiv_id)),
      for_you: JSON.stringify(selection.forYou),
      subject: rendered.subject,
      html_template: rendered.html,
      text_template: rendered.text,
    })
    .onConflict((oc) => oc.columns(['edition_id', 'selection_key']).doNothing())
    .execute();
  const stored = await db.selectFrom('edition_variants').select('id').where('edition_id', '=', edition.id).where('selection_key', '=', key).executeTakeFirstOrThrow();
  return stored.id;
}

let variantsRendered = 0;
/** Variants this process rendered (the bench compares it with the distinct selections). */
export function countVariantsRendered(): number {
  return variantsRendered;
}
