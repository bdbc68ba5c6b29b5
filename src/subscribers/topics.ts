import { sql } from 'kysely';
import type { Executor } from '../db/database.ts';
import { normaliseTopic } from '../papers/topic-search.ts';

/**
 * A reader's topics, typed as free text: `diffusion, robot learning, -survey`. Topics are separated
 * by commas (a comma inside "quotes" belongs to the phrase); each topic is read by PostgreSQL's
 * websearch_to_tsquery('english', …) as web search users expect: words all must match, "quoted
 * phrases" match in order, `or` between words, `-word` excludes. websearch_to_tsquery never raises
 * a syntax error, but it quietly makes nothing (or only exclusions) out of some input, so such a
 * topic is refused here with a message instead of silently matching nothing (or everything).
 *
 * The characters allowed are those a topic needs (letters and digits of any script, spaces,
 * `- " ' . + _ / #`); markup and SQL punctuation (`< > ; = ( ) \ …`) have no meaning to the search
 * and are refused, so they are never stored or shown back.
 */

export const MAX_TOPICS = 10;
/** Per topic, in characters (code points). */
export const MAX_TOPIC_CHARS = 80;
/** The whole field as typed: ten full topics with their commas and some spaces. */
export const MAX_TOPICS_FIELD_CHARS = 1000;

export type TopicsResult = { ok: true; topics: string[] } | { ok: false; message: string };

// A topic's allowed characters, checked after normaliseTopic refused control characters.
// A comma only gets here inside a quoted phrase (splitTopics).
const ALLOWED = /^[\p{L}\p{M}\p{N} \-"'.+_/#,]*$/u;
const HAS_WORD = /[\p{L}\p{N}]/u;

/** How a refused topic is named in a message: short, and only its allowed characters, no quotes. */
function label(topic: string): string {
  const chars = [...topic.replace(/[^\p{L}\p{M}\p{N} \-'.+_/#]/gu, '')];
  return `"${chars.slice(0, 30).join('').trim()}${chars.length > 30 ? '…' : ''}"`;
}

/** Splits at commas outside double quotes; undefined when a quote is left open. */
function splitTopics(field: string): string[] | undefined {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (const ch of field) {
    if (ch === '"') quoted = !quoted;
    if (ch === ',' && !quoted) {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  if (quoted) return undefined;
  parts.push(current);
  return parts;
}

/** The words of a topic that would be searched for: not `or`, not an exclusion, with a letter or digit. */
function searchedWords(topic: string): string[] {
  return topic
    .replace(/"/g, ' ')
    .split(' ')
    .filter((w) => w !== 'or' && !w.startsWith('-') && HAS_WORD.test(w));
}

/**
 * Parses the topics field (a comma-separated string, or the list a JSON client sends) into
 * canonical topics (see normaliseTopic: NFC, single spaces, lower case), duplicates dropped, or
 * the first reason it is refused. Empty input is no topics (the general digest). Pure: the check
 * that PostgreSQL finds something to search for is findUnsearchableTopic.
 */
export function parseTopics(input: string | readonly string[] | undefined): TopicsResult {
  if (input === undefined) return { ok: true, topics: [] };
  const field = typeof input === 'string' ? input : input.join(',');
  if ([...field].length > MAX_TOPICS_FIELD_CHARS) return { ok: false, message: `Topics: at most ${MAX_TOPICS_FIELD_CHARS} characters in all.` };
  // A JSON client's list item is split like the form's field, so a stored topic never holds a
  // comma outside quotes and formatTopics round-trips.
  const parts: string[] = [];
  for (const item of typeof input === 'string' ? [input] : input) {
    const split = splitTopics(item);
    if (!split) return { ok: false, message: 'Topics: a quote is not closed. Put a phrase between two double quotes, like "robot learning".' };
    parts.push(...split);
  }
  const topics: string[] = [];
  for (const part of parts) {
    if (part.trim() === '') continue;
    const normal = normaliseTopic(part);
    if (!normal.ok) {
      return { ok: false, message: normal.message.includes('control') ? 'Topics: control characters are not allowed.' : `Topics: each at most ${MAX_TOPIC_CHARS} characters.` };
    }
    const topic = normal.topic;
    if ([...topic].length > MAX_TOPIC_CHARS) return { ok: false, message: `Topics: each at most ${MAX_TOPIC_CHARS} characters; ${label(topic)} is longer.` };
    if (!ALLOWED.test(topic)) {
      return { ok: false, message: `Topics: ${label(topic)} has characters a topic cannot use. Use letters, digits, spaces and - " ' . + _ / #.` };
    }
    if ((topic.match(/"/g)?.length ?? 0) % 2 === 1) {
      return { ok: false, message: `Topics: a quote is not closed in ${label(topic)}. Put a phrase between two double quotes.` };
    }
    if (searchedWords(topic).length === 0) {
      return { ok: false, message: `Topics: ${label(topic)} has nothing to look for. Give at least one word that is not excluded with -.` };
    }
    if (!topics.includes(topic)) topics.push(topic);
  }
  if (topics.length > MAX_TOPICS) return { ok: false, message: `Topics: at most ${MAX_TOPICS}; you gave ${topics.length}.` };
  return { ok: true, topics };
}

/**
 * The first topic PostgreSQL finds nothing to search for in, with the message to show, or
 * undefined. websearch_to_tsquery('english', …) drops stop words ("the", "of"), so a topic made
 * only of them becomes an empty query (numnode = 0) that would match nothing; a query with only
 * exclusions left has querytree 'T' and would match everything.
 */
export async function findUnsearchableTopic(db: Executor, topics: readonly string[]): Promise<string | undefined> {
  if (topics.length === 0) return undefined;
  const { rows } = await sql<{ topic: string; nodes: number; tree: string }>`
    select t.topic, numnode(q.query) as nodes, querytree(q.query) as tree
    from unnest(${[...topics]}::text[]) with ordinality as t(topic, n)
    cross join lateral (select websearch_to_tsquery('english', t.topic) as query) q
    order by t.n`.execute(db);
  const bad = rows.find((r) => Number(r.nodes) === 0 || r.tree === 'T');
  return bad ? `Topics: ${label(bad.topic)} has nothing to look for (words like "the" or "of" are ignored). Use more specific words.` : undefined;
}

/** parseTopics, then findUnsearchableTopic: the whole check a form runs before saving topics. */
export async function validateTopics(db: Executor, input: string | readonly string[] | undefined): Promise<TopicsResult> {
  const parsed = parseTopics(input);
  if (!parsed.ok) return parsed;
  const message = await findUnsearchableTopic(db, parsed.topics);
  return message ? { ok: false, message } : parsed;
}

/** Topics as the form shows them back: the field a reader can edit and save again unchanged. */
export function formatTopics(topics: readonly string[]): string {
  return topics.join(', ');
}
