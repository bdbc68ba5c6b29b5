import { describe, expect, it } from 'vitest';
import { formatTopics, MAX_TOPIC_CHARS, MAX_TOPICS, parseTopics } from '../../src/subscribers/topics.ts';

const ok = (input: string | string[]) => {
  const result = parseTopics(input);
  if (!result.ok) throw new Error(`refused: ${result.message}`);
  return result.topics;
};
const refused = (input: string | string[]) => {
  const result = parseTopics(input);
  if (result.ok) throw new Error(`accepted: ${JSON.stringify(result.topics)}`);
  return result.message;
};

describe('parseTopics', () => {
  it('splits at commas, keeps phrases and exclusions, canonicalises and drops duplicates', () => {
    expect(ok('diffusion, robot learning, -survey diffusion')).toEqual(['diffusion', 'robot learning', '-survey diffusion']);
    expect(ok('  Diffusion ,,  ROBOT   learning\t, diffusion ')).toEqual(['diffusion', 'robot learning']);
    expect(ok('"robot learning, in the wild" -survey, llm or vlm')).toEqual(['"robot learning, in the wild" -survey', 'llm or vlm']);
    expect(ok('c++, gpt-4o, llama 3.1, o\'neil, rag/retrieval, #nlp, über-netz')).toEqual(['c++', 'gpt-4o', 'llama 3.1', "o'neil", 'rag/retrieval', '#nlp', 'über-netz']);
    // A JSON client sends a list; commas inside an item then split it like the form does.
    expect(ok(['Diffusion', 'robot learning, vision'])).toEqual(['diffusion', 'robot learning', 'vision']);
    // NFC: a decomposed é and a composed one are the same topic.
    expect(ok('cafe\u0301, caf\u00e9')).toEqual(['caf\u00e9']);
  });

  it('reads no topics as the general digest', () => {
    expect(ok('')).toEqual([]);
    expect(ok(' , ,')).toEqual([]);
    expect(parseTopics(undefined)).toEqual({ ok: true, topics: [] });
    expect(ok([])).toEqual([]);
  });

  it('refuses a topic with nothing to look for: operators or exclusions only', () => {
    for (const input of ['-', '-survey', 'or', '""', '-survey -review', '- -', 'or or', '...', '"-"']) {
      expect(refused(input), input).toMatch(/nothing to look for/);
    }
  });

  it('refuses unbalanced quotes with a message saying so', () => {
    expect(refused('"robot learning')).toMatch(/quote is not closed/);
    expect(refused('diffusion, "robot learning, vision')).toMatch(/quote is not closed/);
    expect(refused(['"robot learning'])).toMatch(/quote is not closed/);
  });

  it('refuses too many, too long and 10,000 characters', () => {
    const many = Array.from({ length: MAX_TOPICS + 1 }, (_, i) => `topic${i}`).join(', ');
    expect(refused(many)).toBe(`Topics: at most ${MAX_TOPICS}; you gave ${MAX_TOPICS + 1}.`);
    expect(ok(Array.from({ length: MAX_TOPICS }, (_, i) => `topic${i}`).join(', '))).toHaveLength(MAX_TOPICS);
    expect(refused('a'.repeat(MAX_TOPIC_CHARS + 1))).toMatch(new RegExp(`each at most ${MAX_TOPIC_CHARS} characters`));
    expect(ok('a'.repeat(MAX_TOPIC_CHARS))).toEqual(['a'.repeat(MAX_TOPIC_CHARS)]);
    expect(refused('x'.repeat(10_000))).toMatch(/at most 1000 characters in all/);
    expect(refused('a, '.repeat(3_400))).toMatch(/at most 1000 characters in all/);
  });

  it('refuses NUL and control characters', () => {
    for (const input of ['robot\u0000learning', 'diffusion\u0007', '\u001b[31mred', 'a\u007f', 'x\u0085y']) {
      expect(refused(input), JSON.stringify(input)).toBe('Topics: control characters are not allowed.');
    }
  });

  it('refuses SQL and HTML, naming the topic without the refused characters', () => {
    const sqlMessage = refused("diffusion'; drop table subscribers; --");
    expect(sqlMessage).toMatch(/has characters a topic cannot use/);
    expect(sqlMessage).not.toMatch(/;/);
    const htmlMessage = refused('<script>alert(1)</script>');
    expect(htmlMessage).toMatch(/^Topics: "scriptalert1\/script" has characters a topic cannot use/);
    expect(htmlMessage).not.toMatch(/[<>()]/);
    for (const input of ['a & b', 'x = 1', 'f(x)', 'a\\b', 'a|b', 'a*', '$\\alpha$', '{x}', 'a:b', 'a!b', 'a@b']) {
      expect(refused(input), input).toMatch(/cannot use/);
    }
  });

  it('formats topics back into a field that parses to the same list', () => {
    const topics = ok('diffusion, "robot learning" -survey, llm or vlm');
    expect(parseTopics(formatTopics(topics))).toEqual({ ok: true, topics });
  });
});
