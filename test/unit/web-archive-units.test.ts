import { describe, expect, it } from 'vitest';
import { archivePath, isoWeekDays, isoWeekLabel } from '../../src/editions/archive-urls.ts';
import { escapeHtml, xmlText } from '../../src/http/feeds.ts';
import { cachedBody, notModified, TtlCache } from '../../src/http/http-cache.ts';
import { normaliseTopic } from '../../src/papers/topic-search.ts';

describe('ISO weeks', () => {
  it('numbers weeks as ISO 8601 does, across year ends', () => {
    expect(isoWeekLabel('2025-12-22')).toBe('2025-W52');
    expect(isoWeekLabel('2025-12-29')).toBe('2026-W01');
    expect(isoWeekLabel('2021-01-03')).toBe('2020-W53');
    expect(isoWeekLabel('2024-12-30')).toBe('2025-W01');
    expect(isoWeekDays('2025-W52')).toEqual({ first: '2025-12-22', last: '2025-12-28' });
    expect(isoWeekDays('2020-W53')).toEqual({ first: '2020-12-28', last: '2021-01-03' });
    expect(isoWeekDays('2026-W01')).toEqual({ first: '2025-12-29', last: '2026-01-04' });
    for (const bad of ['2025-W53', '2025-W00', '2025-W54', '2025-52', '../', '2025-W5', '2025-w52 ']) expect(isoWeekDays(bad), bad).toBeUndefined();
    expect(archivePath('weekly', '2025-12-24')).toBe('/archive/week/2025-W52');
    expect(archivePath('daily', '2025-12-24')).toBe('/archive/2025-12-24');
  });
});

describe('normaliseTopic', () => {
  it('folds case and whitespace, and refuses control characters, empty and long topics', () => {
    expect(normaliseTopic('  Robot\tLearning  ')).toEqual({ ok: true, topic: 'robot learning' });
    expect(normaliseTopic('"Diffusion Models" OR -Survey')).toEqual({ ok: true, topic: '"diffusion models" or -survey' });
    expect(normaliseTopic('Cafe\u0301')).toEqual({ ok: true, topic: 'café' });
    for (const bad of ['', '   ', 'a\u0000b', 'x\u0007', '\u009b', 'a'.repeat(201), 'b'.repeat(10_000)]) expect(normaliseTopic(bad).ok, JSON.stringify(bad.slice(0, 10))).toBe(false);
    expect(normaliseTopic('ä'.repeat(200)).ok).toBe(true);
  });
});

describe('feed text', () => {
  it('drops characters XML 1.0 forbids and escapes HTML without ever producing "]]>"', () => {
    expect(xmlText('a\u0000b\u0001c\td\ufffee\ud800f😀')).toBe('abc\tdef😀');
    expect(escapeHtml('<a href="x">]]>&\'</a>')).toBe('&lt;a href=&quot;x&quot;&gt;]]&gt;&amp;&#39;&lt;/a&gt;');
  });
});

describe('conditional requests', () => {
  const body = cachedBody('hello', 'text/plain', new Date('2025-12-26T08:00:00.500Z'));
  it('matches If-None-Match weakly, falls back to If-Modified-Since, and ignores garbage', () => {
    expect(body.lastModified).toBe('Fri, 26 Dec 2025 08:00:00 GMT');
    expect(notModified(body.etag, undefined, body)).toBe(true);
    expect(notModified(`"x", W/${body.etag}`, undefined, body)).toBe(true);
    expect(notModified('*', undefined, body)).toBe(true);
    expect(notModified('garbage', body.lastModified, body)).toBe(false);
    expect(notModified(undefined, body.lastModified, body)).toBe(true);
    expect(notModified(undefined, 'Fri, 26 Dec 2025 07:59:59 GMT', body)).toBe(false);
    expect(notModified(undefined, 'not a date', body)).toBe(false);
    expect(notModified(undefined, undefined, body)).toBe(false);
  });
});

describe('TtlCache', () => {
  it('loads a key once while fresh, again after expiry, and keeps at most maxEntries', async () => {
    const cache = new TtlCache<number>(1000, 2);
    let loads = 0;
    const load = async () => ++loads;
    expect(await Promise.all([cache.getOrLoad('a', load, 0), cache.getOrLoad('a', load, 0)])).toEqual([1, 1]);
    expect(await cache.getOrLoad('a', load, 999)).toBe(1);
    expect(await cache.getOrLoad('a', load, 1000)).toBe(2);
    await cache.getOrLoad('b', load, 1000);
    await cache.getOrLoad('c', load, 1000);
    expect(cache.size).toBe(2);
    await expect(cache.getOrLoad('d', () => Promise.reject(new Error('down')), 1000)).rejects.toThrow('down');
    expect(await cache.getOrLoad('d', load, 1000)).toBe(5);
    expect(await cache.getOrLoadIf('e', async () => 0, (v) => v > 0)).toBe(0);
    expect(await cache.getOrLoadIf('e', async () => 7, (v) => v > 0)).toBe(7);
  });
});
