import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Database } from '../db/database.ts';
import type { Logger } from '../logger.ts';
import { queueNames, type QueueName } from '../queue/jobs.ts';
import type { Queues } from '../queue/queues.ts';
import { readLedgerSnapshot } from './ledger-metrics.ts';

/**
 * What happens inside this process: SMTP round trips, renders, jobs, HTTP requests. One set per
 * process, whatever the number of services in it (a test may start several), created on first use.
 */
export interface ProcessInstruments {
  registry: Registry;
  smtpSeconds: Histogram<'kind' | 'outcome'>;
  messages: Counter<'kind' | 'outcome'>;
  renderSeconds: Histogram;
  jobs: Counter<'queue' | 'job' | 'outcome'>;
  jobSeconds: Histogram<'queue' | 'job'>;
  ingestPolls: Counter<'source' | 'outcome'>;
  httpRequests: Counter<'method' | 'route' | 'status'>;
  httpSeconds: Histogram<'method' | 'route'>;
}

let instruments: ProcessInstruments | undefined;

export function processInstruments(): ProcessInstruments {
  if (instruments) return instruments;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'paperboy_' });
  const registers = [registry];
  const ingestPolls = new Counter({
    name: 'paperboy_ingest_polls_total',
    help: 'Polls of a paper source by this process (one per day polled, or per arXiv enrichment batch), by outcome',
    labelNames: ['source', 'outcome'] as const,
    registers,
  });
  // Present from the start at 0, so `increase()` in an alert sees a series before the first poll.
  for (const source of ['huggingface', 'arxiv']) for (const outcome of ['ok', 'failed']) ingestPolls.labels(source, outcome).inc(0);
  instruments = {
    registry,
    smtpSeconds: new Histogram({
      name: 'paperboy_smtp_send_seconds',
      help: 'Time from handing a message to the SMTP client until the relay answered DATA (or failed)',
      labelNames: ['kind', 'outcome'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    messages: new Counter({
      name: 'paperboy_smtp_messages_total',
      help: 'Messages handed to the SMTP relay by this process, by outcome (accepted, or the reply class of the refusal)',
      labelNames: ['kind', 'outcome'] as const,
      registers,
    }),
    renderSeconds: new Histogram({
      name: 'paperboy_edition_render_seconds',
      help: 'Rendering an edition (MJML to HTML and text), once per edition',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    jobs: new Counter({
      name: 'paperboy_jobs_total',
      help: 'Jobs this process ran, by queue, job name and outcome',
      labelNames: ['queue', 'job', 'outcome'] as const,
      registers,
    }),
    jobSeconds: new Histogram({
      name: 'paperboy_job_seconds',
      help: 'Job run time by queue and job name',
      labelNames: ['queue', 'job'] as const,
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300],
      registers,
    }),
    ingestPolls,
    httpRequests: new Counter({
      name: 'paperboy_http_requests_total',
      help: 'HTTP requests answered, by method, route pattern and status code',
      labelNames: ['method', 'route', 'status'] as const,
      registers,
    }),
    httpSeconds: new Histogram({
      name: 'paperboy_http_request_seconds',
      help: 'HTTP request duration by method and route pattern',
      labelNames: ['method', 'route'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers,
    }),
  };
  return instruments;
}

/** The job queues whose counts are exported; `depth` is what still waits to run. */
const queueStates = ['waiting', 'prioritized', 'delayed', 'active', 'failed'] as const;

export interface ServiceMetrics {
  /** Prometheus text format (version 0.0.4). */
  render(): Promise<string>;
  contentType: string;
}

/**
 * The service's registry: this process's instruments plus gauges read at scrape time from the
 * ledger (Postgres) and the queues (Redis), so every replica reports the same truth and the
 * figures agree with `paperboy status`. A source that does not answer is reported as
 * `paperboy_metrics_source_up{source} 0` and its gauges are left out, instead of failing the scrape.
 */
export function createServiceMetrics(deps: { db: Database; queues: Queues; log: Logger }): ServiceMetrics {
  const registry = new Registry();
  const registers = [registry];
  const sourceUp = new Gauge({ name: 'paperboy_metrics_source_up', help: 'Whether a source of the scrape-time gauges answered (1) or not (0)', labelNames: ['source'] as const, registers });
  const deliveries = new Gauge({
    name: 'paperboy_deliveries',
    help: 'Ledger rows of the current and latest editions, by state and SMTP reply class (enhanced status class.subject, e.g. 5.1; none before a reply)',
    labelNames: ['edition', 'kind', 'state', 'reply_class'] as const,
    registers,
  });
  const planned = new Gauge({ name: 'paperboy_edition_planned', help: 'Deliveries planned for the edition', labelNames: ['edition', 'kind'] as const, registers });
  const progress = new Gauge({
    name: 'paperboy_edition_progress_ratio',
    help: 'Share of the edition\'s planned deliveries in a final state (sent, failed, bounced, skipped, unknown)',
    labelNames: ['edition', 'kind'] as const,
    registers,
  });
  const paused = new Gauge({ name: 'paperboy_edition_paused', help: '1 while the edition is paused (the reason is in `paperboy status`)', labelNames: ['edition', 'kind'] as const, registers });
  const sendRate = new Gauge({ name: 'paperboy_send_rate_messages_per_second', help: 'Deliveries the ledger records as sent during the last minute, per second, all workers together', registers });
  const subscribers = new Gauge({ name: 'paperboy_subscribers', help: 'Subscribers by status', labelNames: ['status'] as const, registers });
  const queueJobs = new Gauge({ name: 'paperboy_queue_jobs', help: 'Jobs per queue and state (failed: kept for inspection)', labelNames: ['queue', 'state'] as const, registers });
  const queueDepth = new Gauge({ name: 'paperboy_queue_depth', help: 'Jobs waiting to run per queue (waiting, prioritized and delayed)', labelNames: ['queue'] as const, registers });

  const collectLedger = async () => {
    const snapshot = await readLedgerSnapshot(deps.db);
    for (const gauge of [deliveries, planned, progress, paused, subscribers]) gauge.reset();
    for (const row of snapshot.deliveries) deliveries.labels(row.edition, row.kind, row.state, row.replyClass).set(row.count);
    for (const edition of snapshot.editions) {
      planned.labels(edition.edition, edition.kind).set(edition.planned);
      progress.labels(edition.edition, edition.kind).set(edition.planned > 0 ? edition.final / edition.planned : 0);
      paused.labels(edition.edition, edition.kind).set(edition.paused ? 1 : 0);
    }
    sendRate.set(snapshot.sentLastMinute / 60);
    for (const [status, count] of Object.entries(snapshot.subscribers)) subscribers.labels(status).set(count);
  };
  const collectQueues = async () => {
    const counts = await Promise.all(
      (Object.values(queueNames) as QueueName[]).map(async (name) => [name, await deps.queues.byName[name].getJobCounts(...queueStates)] as const),
    );
    queueJobs.reset();
    queueDepth.reset();
    for (const [name, byState] of counts) {
      for (const state of queueStates) queueJobs.labels(name, state).set(byState[state] ?? 0);
      queueDepth.labels(name).set((byState.waiting ?? 0) + (byState.prioritized ?? 0) + (byState.delayed ?? 0));
    }
  };
  const collect = async (source: string, run: () => Promise<void>, gauges: Gauge<string>[]) => {
    try {
      await run();
      sourceUp.labels(source).set(1);
    } catch (error) {
      // Stale figures would look current: leave them out until the source answers again.
      for (const gauge of gauges) gauge.reset();
      sourceUp.labels(source).set(0);
      deps.log.warn({ source, err: (error as Error).message }, 'metrics source did not answer');
    }
  };
  const merged = Registry.merge([processInstruments().registry, registry]);
  return {
    contentType: merged.contentType,
    async render() {
      await Promise.all([
        collect('postgres', collectLedger, [deliveries, planned, progress, paused, sendRate, subscribers] as Gauge<string>[]),
        collect('redis', collectQueues, [queueJobs, queueDepth] as Gauge<string>[]),
      ]);
      return merged.metrics();
    },
  };
}
