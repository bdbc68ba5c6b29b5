import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ARXIV_REQUEST_SPACING_MS,
  buildArxivQueryUrl,
  createArxivClient,
  parseArxivAbsId,
  parseArxivFeed,
} from '../../src/papers/sources/arxiv.ts';
import { PaperSourceError } from '../../src/papers/sources/http.ts';
import { startFakeServer, type FakeHandler, type FakeServer } from '../helpers/papers-fake-server.ts';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');
const feedXml = fixture('arxiv-feed.xml');
const errorXml = fixture('arxiv-error.xml');

function parseError(xml: string): PaperSourceError {
  try {
    parseArxivFeed(xml);
  } catch (error) {
    expect(error).toBeInstanceOf(PaperSourceError);
    return error as PaperSourceError;
  }
  throw new Error('expected parseArxivFeed to throw');
}

describe('parseArxivFeed', () => {
  const feed = parseArxivFeed(feedXml);

  it('reads the OpenSearch counts', () => {
    expect(feed).toMatchObject({ totalResults: 1234, startIndex: 0, itemsPerPage: 4 });
  });

  it('maps an entry: unversioned id, normalised multi-line title and abstract, authors, categories, links', () => {
    expect(feed.papers[0]).toEqual({
      arxivId: '2512.20151',
      version: 2,
      title: 'QuarkAudio Technical Report: Unified Audio Understanding and Generation with a Single Tokenizer',
      abstract:
        'We present QuarkAudio, a family of audio models. Audio understanding and generation are usually handled by separate systems; we unify them & show that a single tokenizer suffices for both <speech> and music.',
      authors: ['Ada Lovelace', 'Alan Turing'],
      categories: ['cs.SD', 'cs.CL', 'eess.AS'],
      primaryCategory: 'cs.SD',
      publishedAt: new Date('2025-12-23T18:00:01Z'),
      updatedAt: new Date('2025-12-24T10:11:12Z'),
      absUrl: 'https://arxiv.org/abs/2512.20151v2',
      pdfUrl: 'https://arxiv.org/pdf/2512.20151v2',
      doi: '10.1234/quark.2025.001',
      doiUrl: 'https://dx.doi.org/10.1234/quark.2025.001',
      comment: '24 pages, 7 figures',
      journalRef: 'J. Audio Res. 12 (2026) 1-24',
    });
  });

  it('keeps a digits-only title as text and reads https and legacy ids', () => {
    expect(feed.papers[1]).toMatchObject({ arxivId: '2511.08923', version: 1, title: '1984', doi: null });
    expect(feed.papers[2]).toMatchObject({
      arxivId: 'hep-ex/0307015',
      title: 'Multi-Electron Production at High Transverse Momenta in ep Collisions at HERA',
      publishedAt: new Date('2003-07-07T17:46:39Z'),
      primaryCategory: 'hep-ex',
    });
  });

  it('reports an unusable entry with its index instead of failing the feed', () => {
    expect(feed.papers).toHaveLength(3);
    expect(feed.invalid).toEqual([{ index: 3, reason: 'title: missing' }]);
  });

  it('turns the error feed into ARXIV_API_ERROR with arXiv’s message', () => {
    const error = parseError(errorXml);
    expect(error.code).toBe('ARXIV_API_ERROR');
    expect(error.message).toBe('arXiv rejected the query: incorrect id format for 1234.12345');
  });

  it('fails clearly on a body that is not an Atom feed', () => {
    expect(parseError('Rate exceeded.').code).toBe('INVALID_FEED');
    expect(parseError('<feed><entry></feed>').code).toBe('INVALID_FEED');
    expect(parseError('<?xml version="1.0"?><html><body>hi</body></html>').message).toContain('not an Atom feed');
  });

  it('parses an empty result feed', () => {
    const empty = parseArxivFeed(
      '<feed xmlns="http://www.w3.org/2005/Atom" xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/"><opensearch:totalResults>0</opensearch:totalResults></feed>',
    );
    expect(empty).toEqual({ totalResults: 0, startIndex: 0, itemsPerPage: 0, papers: [], invalid: [] });
  });
});

describe('arXiv ids and query URLs', () => {
  it('strips the abs prefix and the version', () => {
    expect(parseArxivAbsId('http://arxiv.org/abs/2401.01234v12')).toEqual({ arxivId: '2401.01234', version: 12 });
    expect(parseArxivAbsId('https://arxiv.org/abs/2401.01234')).toEqual({ arxivId: '2401.01234', version: null });
    expect(parseArxivAbsId('https://arxiv.org/abs/math.GT/0309136v1')).toEqual({ arxivId: 'math.GT/0309136', version: 1 });
    expect(parseArxivAbsId('http://arxiv.org/api/errors#x')).toBeUndefined();
  });

  it('builds search_query from categories and id_list from ids, newest submissions first', () => {
    const url = new URL(buildArxivQueryUrl('https://export.arxiv.org/', { categories: ['cs.CL', 'cs.LG'], start: 20, maxResults: 50 }));
    expect(url.pathname).toBe('/api/query');
    expect(Object.fromEntries(url.searchParams)).toEqual({
      search_query: 'cat:cs.CL OR cat:cs.LG',
      start: '20',
      max_results: '50',
      sortBy: 'submittedDate',
      sortOrder: 'descending',
    });
    const byId = new URL(buildArxivQueryUrl('https://export.arxiv.org', { ids: ['2401.01234v2', ' hep-ex/0307015 '] }));
    expect(byId.searchParams.get('id_list')).toBe('2401.01234v2,hep-ex/0307015');
    expect(byId.searchParams.has('search_query')).toBe(false);
  });

  it('refuses queries that would inject into arXiv’s query language or exceed its limits', () => {
    expect(() => buildArxivQueryUrl('https://x', {})).toThrow(RangeError);
    expect(() => buildArxivQueryUrl('https://x', { categories: ['cs.CL OR all:x'] })).toThrow(RangeError);
    expect(() => buildArxivQueryUrl('https://x', { categories: ['cs.CL'], maxResults: 2001 })).toThrow(RangeError);
  });

  it('exports the 3-second spacing arXiv asks for', () => {
    expect(ARXIV_REQUEST_SPACING_MS).toBe(3_000);
  });
});

describe('arXiv client over HTTP', () => {
  const servers: FakeServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });
  async function serve(handler: FakeHandler) {
    const server = await startFakeServer(handler);
    servers.push(server);
    const client = createArxivClient({ baseUrl: server.url, retries: 1, backoffBaseMs: 1, backoffMaxMs: 2, timeoutMs: 2_000 });
    return { server, client };
  }
  const atom = (status: number, body: string): FakeHandler => (_req, res) => {
    res.writeHead(status, { 'content-type': 'application/atom+xml; charset=utf-8' });
    res.end(body);
  };

  it('queries /api/query and parses the feed', async () => {
    const { server, client } = await serve(atom(200, feedXml));
    const feed = await client.query({ categories: ['cs.CL'], maxResults: 4 });
    expect(feed.papers.map((p) => p.arxivId)).toEqual(['2512.20151', '2511.08923', 'hep-ex/0307015']);
    expect(server.requests[0]!.query.get('search_query')).toBe('cat:cs.CL');
    expect(server.requests[0]!.query.get('sortBy')).toBe('submittedDate');
  });

  it('reports the error feed as ARXIV_API_ERROR whether it comes with 200 or 400, without retrying', async () => {
    for (const status of [200, 400]) {
      const { server, client } = await serve(atom(status, errorXml));
      await expect(client.query({ ids: ['1234.12345'] })).rejects.toMatchObject({
        code: 'ARXIV_API_ERROR',
        message: 'arXiv rejected the query: incorrect id format for 1234.12345',
      });
      expect(server.requests).toHaveLength(1);
    }
  });

  it('retries a 503 and fails with HTTP_STATUS on a plain 400', async () => {
    const { server, client } = await serve((req, res, request, index) =>
      index === 0 ? atom(503, 'Rate exceeded.')(req, res, request, index) : atom(200, feedXml)(req, res, request, index),
    );
    expect((await client.query({ ids: ['2512.20151'] })).papers).toHaveLength(3);
    expect(server.requests).toHaveLength(2);

    const bad = await serve(atom(400, 'Bad Request'));
    await expect(bad.client.query({ ids: ['x'] })).rejects.toMatchObject({ code: 'HTTP_STATUS', status: 400 });
  });
});
