import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findSendRunById } from '../../src/delivery/send-run.repository.ts';
import { importPapersFile, sampleDataFile } from '../../src/papers/import-file.ts';
import { parsePrometheusText, sampleValue, type Sample } from '../helpers/prometheus-text.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { waitFor } from '../helpers/wait-for.ts';

const DAY = '2025-12-26';

describe('/metrics', () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService({ SEND_RATE: '2000' });
    await importPapersFile(t.service.db, sampleDataFile);
  });
  afterAll(async () => t?.stop());

  const scrape = async (): Promise<Sample[]> => {
    const res = await fetch(`${t.baseUrl}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return parsePrometheusText(await res.text());
  };

  it('parses as Prometheus text and its delivery, subscriber and SMTP figures match the ledger after a send', async () => {
    const readers = Array.from({ length: 30 }, (_, i) => `reader${i}@example.org`);
    await t.service.db
      .insertInto('subscribers')
      .values([
        ...[...readers, 'gone@example.org', 'policy@example.org'].map((email) => ({ email, status: 'active' as const })),
        { email: 'waiting@example.org', status: 'pending' as const },
        { email: 'left@example.org', status: 'unsubscribed' as const },
      ])
      .execute();
    t.sink.onRcpt = (address) =>
      address === 'gone@example.org' ? { code: 550, message: '5.1.1 no such user' }
      : address === 'policy@example.org' ? { code: 550, message: '5.7.26 unauthenticated mail' }
      : undefined;

    const { run } = await t.service.services.requestDailyDigest(DAY);
    await waitFor(async () => (await findSendRunById(t.service.db, run!.id))?.status === 'sent', { what: 'edition sent', timeoutMs: 60_000 });

    const samples = await scrape();
    const ledger = await t.service.db
      .selectFrom('deliveries')
      .select(['status', sql<string>`coalesce(substring(enhanced_code from '^[245]\\.[0-7]'), 'none')`.as('reply_class'), (eb) => eb.fn.countAll<string>().as('n')])
      .where('run_id', '=', run!.id)
      .groupBy(['status', sql`2`])
      .execute();
    // Every ledger group is a sample with the same count, and there are no others for the edition.
    const exported = samples.filter((s) => s.name === 'paperboy_deliveries' && s.labels.edition === DAY);
    expect(exported.map((s) => ({ state: s.labels.state, reply_class: s.labels.reply_class, n: s.value })).sort((a, b) => `${a.state}${a.reply_class}`.localeCompare(`${b.state}${b.reply_class}`)))
      .toEqual(ledger.map((r) => ({ state: r.status, reply_class: r.reply_class, n: Number(r.n) })).sort((a, b) => `${a.state}${a.reply_class}`.localeCompare(`${b.state}${b.reply_class}`)));
    expect(sampleValue(samples, 'paperboy_deliveries', { edition: DAY, state: 'sent', reply_class: 'none' })).toBe(30);
    expect(sampleValue(samples, 'paperboy_deliveries', { edition: DAY, state: 'bounced', reply_class: '5.1' })).toBe(1);
    expect(sampleValue(samples, 'paperboy_deliveries', { edition: DAY, state: 'failed', reply_class: '5.7' })).toBe(1);

    expect(sampleValue(samples, 'paperboy_edition_planned', { edition: DAY, kind: 'daily' })).toBe(32);
    expect(sampleValue(samples, 'paperboy_edition_progress_ratio', { edition: DAY })).toBe(1);
    expect(sampleValue(samples, 'paperboy_edition_paused', { edition: DAY })).toBe(0);
    // All 30 were sent within the last minute (the test runs in seconds).
    expect(sampleValue(samples, 'paperboy_send_rate_messages_per_second')).toBeCloseTo(30 / 60, 5);

    const statuses = await t.service.db.selectFrom('subscribers').select(['status', (eb) => eb.fn.countAll<string>().as('n')]).groupBy('status').execute();
    for (const row of statuses) expect(sampleValue(samples, 'paperboy_subscribers', { status: row.status })).toBe(Number(row.n));
    expect(sampleValue(samples, 'paperboy_subscribers', { status: 'bounced' })).toBe(1);
    expect(sampleValue(samples, 'paperboy_subscribers', { status: 'complained' })).toBe(0);

    // This process's SMTP counters agree with what the relay accepted and the ledger recorded.
    expect(sampleValue(samples, 'paperboy_smtp_messages_total', { kind: 'digest', outcome: 'accepted' })).toBe(30);
    expect(t.sink.accepted).toBe(30);
    expect(sampleValue(samples, 'paperboy_smtp_messages_total', { kind: 'digest', outcome: '5.1' })).toBe(1);
    expect(sampleValue(samples, 'paperboy_smtp_messages_total', { kind: 'digest', outcome: '5.7' })).toBe(1);
    expect(sampleValue(samples, 'paperboy_smtp_send_seconds_count', { kind: 'digest', outcome: 'accepted' })).toBe(30);
    expect(sampleValue(samples, 'paperboy_smtp_send_seconds_bucket', { kind: 'digest', outcome: 'accepted', le: '+Inf' })).toBe(30);
    expect(sampleValue(samples, 'paperboy_edition_render_seconds_count')).toBe(1);
    expect(sampleValue(samples, 'paperboy_jobs_total', { queue: 'send', job: 'plan-run', outcome: 'completed' })).toBe(1);

    for (const queue of ['mail', 'digest', 'papers', 'arxiv', 'send']) {
      expect(sampleValue(samples, 'paperboy_queue_depth', { queue })).toBeGreaterThanOrEqual(0);
      expect(sampleValue(samples, 'paperboy_queue_jobs', { queue, state: 'failed' })).toBe(0);
    }
    expect(sampleValue(samples, 'paperboy_metrics_source_up', { source: 'postgres' })).toBe(1);
    expect(sampleValue(samples, 'paperboy_metrics_source_up', { source: 'redis' })).toBe(1);
    expect(sampleValue(samples, 'paperboy_ingest_polls_total', { source: 'huggingface', outcome: 'failed' })).toBe(0);
  });

  it('counts HTTP requests by route pattern, never by the raw path with its token', async () => {
    await fetch(`${t.baseUrl}/u/some-secret-token-value`);
    await fetch(`${t.baseUrl}/healthz`);
    const samples = await scrape();
    expect(sampleValue(samples, 'paperboy_http_requests_total', { method: 'GET', route: '/healthz', status: '200' })).toBeGreaterThanOrEqual(1);
    const routes = samples.filter((s) => s.name === 'paperboy_http_requests_total').map((s) => s.labels.route);
    expect(routes.some((r) => r?.includes('some-secret-token-value'))).toBe(false);
    expect(routes).toContain('/u/:token');
  });

  it('describes the JSON API as OpenAPI at /docs/json, built from the routes\' zod schemas', async () => {
    const res = await fetch(`${t.baseUrl}/docs/json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, { security?: unknown; parameters?: { name: string }[]; requestBody?: unknown }>> };
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc.paths['/subscribe']?.post?.requestBody).toBeDefined();
    expect(doc.paths['/admin/subscribers/import']?.post?.parameters?.map((p) => p.name)).toEqual(expect.arrayContaining(['consent', 'note']));
    expect(doc.paths['/admin/subscribers/import']?.post?.security).toEqual([{ adminToken: [] }]);
    expect(doc.paths['/subscribe']?.post?.security).toBeUndefined();
    expect(doc.paths['/metrics']).toBeUndefined();
    // The public editions API is described with its query and path parameters, and needs no token.
    expect(doc.paths['/api/editions']?.get?.parameters?.map((p) => p.name)).toEqual(expect.arrayContaining(['page', 'per_page']));
    expect(doc.paths['/api/editions/{date}']?.get?.parameters?.map((p) => p.name)).toEqual(['date']);
    expect(doc.paths['/api/editions']?.get?.security).toBeUndefined();
  });
});
