import { parseIsoDay } from '../../dates.ts';
import { parseHfItems, type PaperRecord } from '../hf-item.ts';
import { fetchWithRetry, PaperSourceError, sourceHttpOptions, type SourceHttpOptions, type SourceLog } from './http.ts';

/**
 * Client for the Hugging Face Daily Papers API: `GET {baseUrl}/api/daily_papers?date=YYYY-MM-DD`,
 * a bare JSON array, paged with `p` (from 0) and `limit`.
 */

export interface HfDailyPapersClientOptions extends SourceHttpOptions {
  /** e.g. https://huggingface.co (config.hfApiUrl); tests point it at a local server. */
  baseUrl: string;
  /** Optional HF access token; raises the rate limit. Sent as a bearer token. */
  token?: string;
  /** Items asked for per page; a shorter page is the last one. */
  pageSize?: number;
  /** Safety stop for a server that never sends a short page. */
  maxPages?: number;
  userAgent?: string;
  log?: SourceLog;
}

export interface InvalidHfItem {
  /** Position in the day's items across pages, from 0. */
  index: number;
  reason: string;
}

export interface HfDayFetch {
  date: string;
  /** Items received, valid or not, duplicates included. */
  itemCount: number;
  pages: number;
  records: PaperRecord[];
  invalid: InvalidHfItem[];
  /** True when paging stopped at maxPages with the last page still full. */
  truncated: boolean;
}

export interface HfDailyPapersClient {
  readonly baseUrl: string;
  /** Fetches every page of one day. Throws PaperSourceError; validates items but never throws for one. */
  fetchDay(date: string, options?: { signal?: AbortSignal }): Promise<HfDayFetch>;
}

export const HF_DEFAULT_PAGE_SIZE = 100;
export const HF_DEFAULT_MAX_PAGES = 50;

export function createHfDailyPapersClient(options: HfDailyPapersClientOptions): HfDailyPapersClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const pageSize = options.pageSize ?? HF_DEFAULT_PAGE_SIZE;
  const maxPages = options.maxPages ?? HF_DEFAULT_MAX_PAGES;
  if (!Number.isInteger(pageSize) || pageSize < 1) throw new RangeError('pageSize must be a positive integer');
  if (!Number.isInteger(maxPages) || maxPages < 1) throw new RangeError('maxPages must be a positive integer');
  const headers: Record<string, string> = {
    accept: 'application/json',
    'user-agent': options.userAgent ?? 'paperboy (self-hosted newsletter)',
  };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const log = options.log;

  async function fetchPage(date: string, page: number, signal: AbortSignal | undefined): Promise<unknown[]> {
    const url = `${baseUrl}/api/daily_papers?${new URLSearchParams({ date, p: String(page), limit: String(pageSize) })}`;
    const response = await fetchWithRetry(url, {
      ...sourceHttpOptions(options),
      headers,
      signal,
      onRetry: (event) => log?.warn(event, 'retrying Hugging Face Daily Papers request'),
    });
    if (response.status < 200 || response.status > 299) {
      throw new PaperSourceError('HTTP_STATUS', `${url} answered HTTP ${response.status}`, {
        url,
        status: response.status,
        attempts: response.attempts,
      });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(response.body.toString('utf8'));
    } catch (error) {
      throw new PaperSourceError('INVALID_JSON', `${url} did not answer JSON: ${(error as Error).message}`, {
        url,
        status: response.status,
        attempts: response.attempts,
        cause: error,
      });
    }
    if (!Array.isArray(parsed)) {
      const shape = parsed === null ? 'null' : typeof parsed;
      throw new PaperSourceError('NOT_AN_ARRAY', `${url} answered JSON ${shape}, expected an array of papers`, {
        url,
        status: response.status,
        attempts: response.attempts,
      });
    }
    return parsed;
  }

  return {
    baseUrl,
    async fetchDay(date, { signal } = {}) {
      parseIsoDay(date);
      const records: PaperRecord[] = [];
      const invalid: InvalidHfItem[] = [];
      const seenIds = new Set<string>();
      let itemCount = 0;
      let pages = 0;
      let truncated = false;
      for (;;) {
        const items = await fetchPage(date, pages, signal);
        pages++;
        const batch = parseHfItems(items);
        for (const bad of batch.invalid) invalid.push({ index: itemCount + bad.index, reason: bad.reason });
        const newIds = batch.records.filter((r) => !seenIds.has(r.arxivId)).length;
        for (const record of batch.records) {
          records.push(record);
          seenIds.add(record.arxivId);
        }
        itemCount += items.length;
        if (items.length < pageSize) break;
        // A full page with nothing new means the server ignores `p`: stop rather than loop.
        if (newIds === 0 && batch.records.length > 0) break;
        if (pages >= maxPages) {
          truncated = true;
          log?.warn({ date, pages }, 'stopped paging Daily Papers at maxPages; later items were not fetched');
          break;
        }
      }
      if (invalid.length > 0) log?.warn({ date, invalid }, 'skipped invalid Daily Papers items');
      return { date, itemCount, pages, records, invalid, truncated };
    },
  };
}
