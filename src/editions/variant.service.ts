import { sql } from 'kysely';
import type { Executor } from '../db/database.ts';
import { paperColumns } from '../papers/paper.repository.ts';
import { featuredOnSql, topicMatchSql, topicRelevanceSql } from '../papers/topic-search.ts';
import { findCardSignals, trendingScoreSql } from '../papers/trending.ts';
import { processInstruments } from '../ops/metrics.ts';
import { archivePath } from './archive-urls.ts';
import { DigestSplicer } from './digest-splice.ts';
import { editionAsOf, editionDateLabel, editionDays, sectionsOf, type EditionSettings } from './edition.service.ts';
import type { Edition } from './edition.table.ts';
import { selectFor, selectionKey, selectionPaperIds, type Selection, type SelectionPools, type TopicMatchRow } from './personal-selection.ts';
import type { DigestPaper } from './render-digest.ts';

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
 * the topic; one with nothing to search for matches nothing. Matching and relevance are the topic
 * feeds' (src/papers/topic-search.ts), momentum the trending score as of the end of the period,
 * so every run of the edition ranks alike.
 */
export async function matchTopics(db: Executor, edition: Pick<Edition, 'kind' | 'digest_date'>, topics: readonly string[]): Promise<Map<string, TopicMatchRow[]>> {
  const byTopic = new Map<string, TopicMatchRow[]>();
  if (topics.length === 0) return byTopic;
  const days = editionDays(edition.kind, edition.digest_date);
  const asOf = editionAsOf(edition.kind, edition.digest_date);
  const { rows } = await sql<{ topic: string; arxiv_id: string; relevance: number; trending_score: number }>`
    select t.topic, papers.arxiv_id,
      ${topicRelevanceSql(sql`q.query`)} as relevance,
      ${trendingScoreSql(asOf)} as trending_score
    from unnest(${[...topics]}::text[]) as t(topic)
    cross join lateral (select websearch_to_tsquery('english', t.topic) as query) q
    join papers on ${topicMatchSql(sql`q.query`)}
    where ${featuredOnSql(sql`${days}::date[]`)} and papers.withdrawn_at is null`.execute(db);
  for (const row of rows) {
    const list = byTopic.get(row.topic) ?? [];
    list.push({ arxivId: row.arxiv_id, topic: row.topic, relevance: Number(row.relevance), trendingScore: Number(row.trending_score) });
    byTopic.set(row.topic, list);
  }
  return byTopic;
}

/**
 * What planning one edition needs to build its variants: every candidate paper with its card
 * signals as of the edition's end (read once, not per variant) and the parts rendered so far.
 */
export interface VariantBuilder {
  edition: Edition;
  papers: Map<string, DigestPaper>;
  splicer: DigestSplicer;
  /** Keys of the parts this builder has stored (edition_parts): each is written once. */
  storedParts: Set<string>;
}

export async function createVariantBuilder(db: Executor, edition: Edition, settings: EditionSettings, candidates: readonly string[]): Promise<VariantBuilder> {
  const builder: VariantBuilder = {
    edition,
    papers: new Map(),
    splicer: new DigestSplicer({
      digestDate: edition.digest_date,
      publicUrl: settings.publicUrl,
      archivePath: archivePath(edition.kind, edition.digest_date),
      dateLabel: editionDateLabel(edition.kind, edition.digest_date),
    }),
    storedParts: new Set(),
  };
  await loadPapers(db, builder, candidates);
  return builder;
}

async function loadPapers(db: Executor, builder: VariantBuilder, ids: readonly string[]): Promise<void> {
  const missing = ids.filter((id) => !builder.papers.has(id));
  if (missing.length === 0) return;
  const rows = await db.selectFrom('papers').select(paperColumns).where(sql<boolean>`arxiv_id = any(${missing}::text[])`).execute();
  const signals = await findCardSignals(db, missing, editionAsOf(builder.edition.kind, builder.edition.digest_date));
  for (const paper of rows) builder.papers.set(paper.arxiv_id, { ...paper, ...signals.get(paper.arxiv_id) });
}

/** Variant rows per INSERT: each holds its text (~10 kB) and a layout of ~2 kB. */
const INSERT_CHUNK = 200;

/**
 * The variants of the builder's edition showing `selections`, by selection key: each selection
 * not stored yet is assembled from parts rendered once (digest-splice.ts; MJML only for cards not
 * seen before, many per call) and stored as a layout of those parts, the parts once per edition;
 * one already stored, by any process, is found by its key.
 */
export async function ensureVariants(db: Executor, builder: VariantBuilder, selections: readonly Selection[]): Promise<Map<string, number>> {
  const edition = builder.edition;
  const byKey = new Map(selections.map((selection) => [selectionKey(selection), selection]));
  const ids = new Map<string, number>();
  if (byKey.size === 0) return ids;
  const findIds = async (keys: string[]) => {
    const rows = await db
      .selectFrom('edition_variants')
      .select(['id', 'selection_key'])
      .where('edition_id', '=', edition.id)
      .where(sql<boolean>`selection_key = any(${keys}::text[])`)
      .execute();
    for (const row of rows) ids.set(row.selection_key, row.id);
  };
  await findIds([...byKey.keys()]);
  const missing = [...byKey].filter(([key]) => !ids.has(key));
  if (missing.length === 0) return ids;
  await loadPapers(db, builder, missing.flatMap(([, selection]) => selectionPaperIds(selection)));
  const sections = missing.map(([, selection]) => sectionsOf(edition.kind, selection, builder.papers));
  const endRender = processInstruments().renderSeconds.startTimer();
  await builder.splicer.prepare(sections);
  endRender();
  for (let i = 0; i < missing.length; i += INSERT_CHUNK) {
    const rows = [];
    const newParts = new Map<string, string>();
    for (let j = i; j < Math.min(i + INSERT_CHUNK, missing.length); j++) {
      const [key, selection] = missing[j]!;
      const composed = await builder.splicer.compose(sections[j]!);
      variantsRendered++;
      for (const [partKey, html] of composed.parts) if (!builder.storedParts.has(partKey)) newParts.set(partKey, html);
      rows.push({
        edition_id: edition.id,
        selection_key: key,
        paper_ids: sections[j]!.flatMap((s) => s.papers.map((p) => p.arxiv_id)),
        for_you: JSON.stringify(selection.forYou),
        subject: composed.subject,
        html_template: null,
        html_layout: JSON.stringify(composed.layout),
        text_template: composed.text,
      });
    }
    // Parts before the variants that name them: a variant a sender can read has all its parts.
    if (newParts.size > 0) {
      await db
        .insertInto('edition_parts')
        .values([...newParts].map(([key, html]) => ({ edition_id: edition.id, key, html })))
        .onConflict((oc) => oc.columns(['edition_id', 'key']).doNothing())
        .execute();
      for (const key of newParts.keys()) builder.storedParts.add(key);
    }
    await db
      .insertInto('edition_variants')
      .values(rows)
      .onConflict((oc) => oc.columns(['edition_id', 'selection_key']).doNothing())
      .execute();
  }
  await findIds(missing.map(([key]) => key));
  return ids;
}

let variantsRendered = 0;
/** Variants this process built, each from its parts (the bench compares it with the distinct selections). */
export function countVariantsRendered(): number {
  return variantsRendered;
}
