import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PaperRecord } from '../../src/papers/hf-item.ts';
import { upsertPapers } from '../../src/papers/paper.repository.ts';
import { createSubscriberToken } from '../../src/subscribers/tokens.ts';
import { startTestService, type TestService } from '../helpers/service.ts';

// Issue 10, items 1 and 6 and "Bad input": topics and time zone at sign-up, the preview, and the
// preference centre behind the link in every digest. Each refusal changes nothing in Postgres.

const paper = (arxivId: string, title: string, featuredOn: string, upvotes = 10): PaperRecord => ({
  arxivId,
  title,
  abstract: `${title}. We study it.`,
  authors: ['A. Author'],
  organization: null,
  publishedAt: null,
  featuredOn,
  upvotes,
  comments: 0,
  githubUrl: null,
  projectUrl: null,
  thumbnailUrl: null,
  withdrawnAt: null,
});

let t: TestService;
beforeAll(async () => {
  t = await startTestService();
  await upsertPapers(t.service.db, [
    paper('2512.20001', 'Robot learning from play', '2025-12-26', 40),
    paper('2512.20002', 'Diffusion policies for robot learning', '2025-12-24', 30),
    paper('2512.20003', 'A survey of robot learning', '2025-12-25', 5),
    paper('2512.20004', 'Sparse attention for long context', '2025-12-26'),
    // Older than the preview's 7 days (the window ends with the newest featured day, 2025-12-26).
    paper('2512.20005', 'Robot learning in 2019', '2025-12-01'),
  ]);
});
afterAll(async () => t?.stop());

const form = (path: string, fields: Record<string, string | string[]>, headers: Record<string, string> = {}) => {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) for (const one of [v].flat()) body.append(k, one);
  return fetch(`${t.baseUrl}${path}`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html', ...headers }, body });
};
const json = (path: string, body: unknown) =>
  fetch(`${t.baseUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify(body) });

/** Everything a refusal must leave alone. */
const snapshot = async () =>
  JSON.stringify(
    await Promise.all([
      t.service.db.selectFrom('subscribers').selectAll().orderBy('id').execute(),
      t.service.db.selectFrom('signup_requests').selectAll().orderBy('id').execute(),
      t.service.db.selectFrom('consent_events').selectAll().orderBy('id').execute(),
    ]),
  );

/** The message shown next to `field` on an HTML page, or undefined. */
const fieldError = (html: string, field: string) => new RegExp(`id="${field}-error">([^<]*)<`).exec(html)?.[1];

describe('sign-up: topics and time zone', () => {
  it('stores canonical topics and the time zone (an alias under its listed name)', async () => {
    const res = await form('/subscribe', { email: 'topics@example.org', topics: 'Diffusion,  "Robot Learning" -survey, diffusion', timeZone: 'Asia/Kolkata' });
    expect(res.status).toBe(200);
    const request = await t.service.db.selectFrom('signup_requests').selectAll().where('email', '=', 'topics@example.org').executeTakeFirstOrThrow();
    expect(request.topics).toEqual(['diffusion', '"robot learning" -survey']);
    expect(request.time_zone).toBe(new Intl.DateTimeFormat('en', { timeZone: 'Asia/Kolkata' }).resolvedOptions().timeZone);
    // No time zone (no JavaScript, field left empty): UTC.
    expect((await json('/subscribe', { email: 'nozone@example.org', topics: ['llm'] })).status).toBe(202);
    const noZone = await t.service.db.selectFrom('signup_requests').selectAll().where('email', '=', 'nozone@example.org').executeTakeFirstOrThrow();
    expect(noZone).toMatchObject({ topics: ['llm'], time_zone: 'UTC' });
  });

  it('the form says what topics and the time zone do, not "used later"', async () => {
    const html = await (await fetch(`${t.baseUrl}/`)).text();
    expect(html).not.toMatch(/used later/i);
    expect(html).toContain('"For you" section');
    expect(html).toMatch(/<input id="timeZone" name="timeZone" type="text" list="time-zones"/);
    expect(html).toContain('<option value="Europe/Berlin">');
    expect(html).toContain('<option value="Australia/Lord_Howe">');
  });

  const badTopics: [string, string, RegExp][] = [
    ['operators only', '-survey, or', /nothing to look for/],
    ['stop words only', 'the, of', /nothing to look for/],
    ['an unbalanced quote', '"robot learning', /quote is not closed/],
    ['10,000 characters', 'x'.repeat(10_000), /at most 1000 characters/],
    ['SQL', "llm'); drop table subscribers; --", /cannot use/],
    ['HTML', '<script>alert(1)</script>', /cannot use/],
    ['eleven topics', Array.from({ length: 11 }, (_, i) => `topic${i}`).join(', '), /at most 10/],
  ];

  it.each(badTopics)('refuses topics with %s: the form again with the message next to the field, nothing stored', async (_name, topics, message) => {
    const before = await snapshot();
    const res = await form('/subscribe', { email: 'bad-topics@example.org', topics, timeZone: 'Europe/Berlin' });
    expect(res.status).toBe(400);
    const html = await res.text();
    expect(fieldError(html, 'topics')).toMatch(message);
    expect(html).toMatch(/<input id="topics"[^>]* aria-invalid="true"/);
    expect(html).not.toContain('<script>alert(1)');
    expect(html).toContain('value="bad-topics@example.org"');
    const api = await json('/subscribe', { email: 'bad-topics@example.org', topics });
    expect(api.status).toBe(400);
    expect(((await api.json()) as { message: string }).message).toMatch(message);
    expect(await snapshot()).toBe(before);
  });

  it('refuses NUL and control characters in topics with 400', async () => {
    const before = await snapshot();
    const res = await form('/subscribe', { email: 'nul@example.org', topics: 'llm\u0000' });
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/control characters are not allowed/);
    expect(await snapshot()).toBe(before);
  });

  it('refuses an unknown time zone next to the field', async () => {
    const before = await snapshot();
    for (const zone of ['Mars/Olympus', 'Europe/Berlin; drop table', '+01:00', 'x'.repeat(150)]) {
      const res = await form('/subscribe', { email: 'zone@example.org', topics: 'llm', timeZone: zone });
      expect(res.status, zone).toBe(400);
      expect(fieldError(await res.text(), 'timeZone'), zone).toMatch(/choose one from the list/);
    }
    expect(await snapshot()).toBe(before);
  });
});

describe('preview', () => {
  it('JSON: the papers of the last 7 days each topic matches, best first, exclusions applied', async () => {
    const res = await json('/preview', { topics: 'robot learning -survey, sparse attention, quantum gravity' });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { topics: string[]; preview: { topic: string; papers: { arxivId: string }[] }[] };
    expect(body.topics).toEqual(['robot learning -survey', 'sparse attention', 'quantum gravity']);
    expect(body.preview.map((p) => [p.topic, p.papers.map((x) => x.arxivId)])).toEqual([
      ['robot learning -survey', ['2512.20001', '2512.20002']],
      ['sparse attention', ['2512.20004']],
      ['quantum gravity', []],
    ]);
    const bad = await json('/preview', { topics: '"open quote' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ field: 'topics', message: expect.stringMatching(/quote is not closed/) });
  });

  it('without JavaScript: the Preview button re-renders the sign-up page with the results and the typed values, storing nothing', async () => {
    const before = await snapshot();
    const res = await form('/preview', { email: 'later@example.org', topics: 'robot learning', timeZone: 'Europe/Berlin', formToken: 'tok', intent: 'preview' });
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('<h3 class="preview-topic">robot learning</h3>');
    expect(html).toContain('Robot learning from play');
    expect(html).not.toContain('Robot learning in 2019');
    expect(html).toContain('value="later@example.org"');
    expect(html).toMatch(/<input id="timeZone"[^>]* value="Europe\/Berlin"/);
    expect(await snapshot()).toBe(before);
  });
});

describe('preference centre', () => {
  const secret = () => (Array.isArray(t.config.secret) ? t.config.secret[0] : t.config.secret) as string;
  const reader = async (email: string) => {
    const row = await t.service.db
      .insertInto('subscribers')
      .values({ email, status: 'active', topics: ['diffusion'], time_zone: 'Europe/Berlin' })
      .returning(['id', 'token_version'])
      .executeTakeFirstOrThrow();
    return { id: row.id, token: createSubscriberToken(secret(), 'preferences', row.id, row.token_version) };
  };
  const row = (id: number) => t.service.db.selectFrom('subscribers').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  const versionOf = (html: string) => /name="version" value="(\d+)"/.exec(html)![1]!;
  const page = async (token: string) => {
    const res = await fetch(`${t.baseUrl}/p/${token}`);
    expect(res.status).toBe(200);
    return res.text();
  };
  const valid = (version: string) => ({
    topics: 'robot learning -survey, "sparse attention"',
    frequency: 'weekly',
    deliveryHour: '6',
    timeZone: 'America/New_York',
    papersPerDigest: '5',
    onlyMyTopics: 'on',
    pausedUntil: '',
    version,
  });

  it('shows the saved preferences and saves a POST of the form (303 back to the page, which says so)', async () => {
    const { id, token } = await reader('centre@example.org');
    const html = await page(token);
    expect(html).toMatch(/<input id="topics"[^>]* value="diffusion"/);
    expect(html).toMatch(/<option value="8" selected>08:00<\/option>/);
    expect(html).toMatch(/<input id="timeZone"[^>]* value="Europe\/Berlin"/);
    expect(html).toMatch(/value="daily" checked/);
    expect(html).toMatch(/<input id="papersPerDigest"[^>]* value="10"/);
    expect(html).toContain('<datalist id="time-zones">');
    const res = await form(`/p/${token}`, valid(versionOf(html)));
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe(`/p/${token}?saved=1`);
    expect(await row(id)).toMatchObject({
      topics: ['robot learning -survey', '"sparse attention"'],
      frequency: 'weekly',
      delivery_hour: 6,
      time_zone: 'America/New_York',
      papers_per_digest: 5,
      only_my_topics: true,
      paused_until: null,
    });
    const after = await (await fetch(`${t.baseUrl}/p/${token}?saved=1`)).text();
    expect(after).toContain('Saved. Your changes apply from the next edition.');
    expect(after).toMatch(/<option value="6" selected>06:00<\/option>/);
    expect(after).toMatch(/value="weekly" checked/);
    expect(after).toMatch(/id="onlyMyTopics" name="onlyMyTopics" value="on" checked/);
    // Unticking the checkbox (left out of the post) and pausing until a future day.
    const again = await form(`/p/${token}`, { ...valid(versionOf(after)), onlyMyTopics: [], pausedUntil: '2999-01-31' });
    expect(again.status).toBe(303);
    expect(await row(id)).toMatchObject({ only_my_topics: false, paused_until: '2999-01-31' });
  });

  it('previews unsaved topics without JavaScript, keeping the other typed values and saving nothing', async () => {
    const { id, token } = await reader('preview@example.org');
    const before = await row(id);
    const html = await page(token);
    const res = await form(`/p/${token}/preview`, { ...valid(versionOf(html)), topics: 'robot learning', deliveryHour: '7' });
    expect(res.status).toBe(200);
    const body = await res.text();
    expect(body).toContain('Robot learning from play');
    expect(body).toMatch(/<option value="7" selected>07:00<\/option>/);
    expect(versionOf(body)).toBe(versionOf(html));
    expect(await row(id)).toEqual(before);
  });

  const refusals: [string, Record<string, string>, string, RegExp][] = [
    ['hour 25', { deliveryHour: '25' }, 'deliveryHour', /from 0 to 23/],
    ['hour "8am"', { deliveryHour: '8am' }, 'deliveryHour', /from 0 to 23/],
    ['an unknown time zone', { timeZone: 'Mars/Olympus' }, 'timeZone', /choose one from the list/],
    ['a pause date in the past', { pausedUntil: '2020-01-01' }, 'pausedUntil', /today or later/],
    ['a pause date that is no date', { pausedUntil: '2025-02-30' }, 'pausedUntil', /as a date/],
    ['operators-only topics', { topics: '-survey' }, 'topics', /nothing to look for/],
    ['HTML in a topic', { topics: '<img src=x onerror=alert(1)>' }, 'topics', /cannot use/],
    ['10,000 characters of topics', { topics: 'y'.repeat(10_000) }, 'topics', /at most 1000/],
    ['2 papers', { papersPerDigest: '2' }, 'papersPerDigest', /from 3 to 30/],
    ['an unknown frequency', { frequency: 'hourly' }, 'frequency', /daily or weekly/],
    ['only my topics without topics', { topics: '', onlyMyTopics: 'on' }, 'onlyMyTopics', /at least one topic/],
  ];

  it.each(refusals)('refuses %s: 400, the form again with the message next to the field and the typed values, nothing changed', async (_name, change, field, message) => {
    const { token } = await reader(`refuse-${field}-${Math.random().toString(36).slice(2)}@example.org`);
    const html = await page(token);
    const before = await snapshot();
    const res = await form(`/p/${token}`, { ...valid(versionOf(html)), ...change });
    expect(res.status).toBe(400);
    const body = await res.text();
    expect(fieldError(body, field)).toMatch(message);
    expect(body).not.toContain('<img src=x');
    if (field !== 'timeZone') expect(body).toMatch(/<input id="timeZone"[^>]* value="America\/New_York"/);
    expect(await snapshot()).toBe(before);
  });

  it('a stale form (saved elsewhere since it was rendered) comes back with a message and the current values; nothing changed', async () => {
    const { id, token } = await reader('stale@example.org');
    const oldTab = await page(token);
    const newTab = await page(token);
    expect((await form(`/p/${token}`, { ...valid(versionOf(newTab)), deliveryHour: '9' })).status).toBe(303);
    const saved = await row(id);
    const before = await snapshot();
    const res = await form(`/p/${token}`, { ...valid(versionOf(oldTab)), deliveryHour: '11' });
    expect(res.status).toBe(409);
    const body = await res.text();
    expect(fieldError(body, 'form')).toMatch(/changed after this page was opened/);
    expect(body).toMatch(/<option value="9" selected>09:00<\/option>/);
    expect(versionOf(body)).not.toBe(versionOf(oldTab));
    expect(await snapshot()).toBe(before);
    expect((await row(id)).delivery_hour).toBe(saved.delivery_hour);
    // No version at all is stale too.
    const { version: _omit, ...withoutVersion } = valid('x');
    expect((await form(`/p/${token}`, withoutVersion)).status).toBe(409);
    expect(await snapshot()).toBe(before);
  });

  it('a tampered, revoked or other-purpose token is a 404 and changes nothing; a cross-site post is a 403', async () => {
    const { id, token } = await reader('tamper@example.org');
    const version = versionOf(await page(token));
    const before = await snapshot();
    const tampered = token.slice(0, -2) + (token.endsWith('AA') ? 'BB' : 'AA');
    const unsubscribeToken = createSubscriberToken(secret(), 'unsubscribe', id, 1);
    for (const bad of [tampered, unsubscribeToken, 'nonsense']) {
      expect((await fetch(`${t.baseUrl}/p/${bad}`)).status, bad).toBe(404);
      expect((await form(`/p/${bad}`, valid(version))).status, bad).toBe(404);
      expect((await form(`/p/${bad}/preview`, valid(version))).status, bad).toBe(404);
    }
    expect((await form(`/p/${token}`, valid(version), { 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    expect((await form(`/p/${token}`, valid(version), { origin: 'https://evil.test' })).status).toBe(403);
    expect(await snapshot()).toBe(before);
    // Revoked: the version in the link is no longer the subscriber's.
    await t.service.db.updateTable('subscribers').set({ token_version: 2 }).where('id', '=', id).execute();
    const revoked = await snapshot();
    expect((await form(`/p/${token}`, valid(version))).status).toBe(404);
    expect((await fetch(`${t.baseUrl}/p/${token}`)).status).toBe(404);
    expect(await snapshot()).toBe(revoked);
  });

  it('JSON clients get 200 with the saved topics, and 400 naming the refusal', async () => {
    const { id, token } = await reader('json-centre@example.org');
    const version = versionOf(await page(token));
    const ok = await json(`/p/${token}`, { topics: ['llm', 'robot learning'], version });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ status: 'saved', topics: ['llm', 'robot learning'] });
    const before = await snapshot();
    const bad = await json(`/p/${token}`, { deliveryHour: 25, version: versionOf(await page(token)) });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toMatch(/from 0 to 23/);
    expect(await snapshot()).toBe(before);
    expect(await row(id)).toMatchObject({ delivery_hour: 8, only_my_topics: false, topics: ['llm', 'robot learning'] });
    // A JSON client leaves out what it keeps: the checkbox too.
    expect((await json(`/p/${token}`, { onlyMyTopics: true, version: versionOf(await page(token)) })).status).toBe(200);
    expect((await json(`/p/${token}`, { deliveryHour: 7, version: versionOf(await page(token)) })).status).toBe(200);
    expect(await row(id)).toMatchObject({ delivery_hour: 7, only_my_topics: true });
  });
});
