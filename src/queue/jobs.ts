import { z } from 'zod';

/** Queue names. Each feature owns one; the prefix (config) separates deployments and tests. */
export const queueNames = { mail: 'mail', digest: 'digest', papers: 'papers', arxiv: 'arxiv', send: 'send' } as const;
export type QueueName = (typeof queueNames)[keyof typeof queueNames];

const day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/);
const id = z.number().int().positive();

/** Job payloads carry ids, never objects: the worker reads the current state from Postgres. */
export const jobSchemas = {
  // `imported`: queued by an operator's import, paced by its delay instead of the hourly cap.
  'confirmation-email': z.object({ subscriberId: id, imported: z.boolean().optional() }),
  'data-access-email': z.object({ subscriberId: id }),
  'daily-digest': z.object({}).passthrough(),
  // `at`: the instant to deliver for (the CLI, tests); the scheduler's jobs use their own time.
  'deliver-due': z.object({ at: z.string().datetime().optional() }).passthrough(),
  'welcome-edition': z.object({ subscriberId: id }),
  'plan-run': z.object({ runId: id }),
  // generation and round name the job (jobIds.sendBatch); the rows to send are read from the ledger.
  'send-batch': z.object({ runId: id, fromDeliveryId: id, toDeliveryId: id, generation: z.number().int().min(0).optional(), round: z.number().int().min(0).optional() }),
  'reconcile-deliveries': z.object({}).passthrough(),
  'poll-papers': z.object({}).passthrough(),
  'ingest-day': z.object({ day }),
  'enrich-arxiv': z.object({ day }),
} as const;

export type JobName = keyof typeof jobSchemas;
export type JobData<N extends JobName> = z.infer<(typeof jobSchemas)[N]>;

export const jobQueue: Record<JobName, QueueName> = {
  'confirmation-email': 'mail',
  'data-access-email': 'mail',
  'daily-digest': 'digest',
  'deliver-due': 'digest',
  'welcome-edition': 'digest',
  // Planning and sending have a queue of their own, so "no send job pending" is one count.
  'plan-run': 'send',
  'send-batch': 'send',
  'reconcile-deliveries': 'digest',
  'poll-papers': 'papers',
  'ingest-day': 'papers',
  'enrich-arxiv': 'arxiv',
};

/** Job ids decided in one place; deterministic where a duplicate job would mean duplicate work. */
export const jobIds = {
  // A generation > 0 re-enqueues work whose jobs were lost; its ids never collide with old jobs.
  planRun: (runId: number, generation = 0) => (generation === 0 ? `plan-run-${runId}` : `plan-run-${runId}-g${generation}`),
  sendBatch: (runId: number, generation: number, window: number) => `send-batch-${runId}-g${generation}-w${window}`,
  /** The n-th delayed return of a window's job after transient failures (window named by its first ledger id). */
  sendBatchRetry: (runId: number, generation: number, fromDeliveryId: number, round: number) => `send-batch-${runId}-g${generation}-d${fromDeliveryId}-r${round}`,
  /** The send run a plan-run or send-batch job id belongs to, and which of the two it is. */
  runOf: (jobId: string): { runId: number; job: 'plan-run' | 'send-batch' } | undefined => {
    const match = /^(plan-run|send-batch)-(\d+)(?:-|$)/.exec(jobId);
    return match ? { runId: Number(match[2]), job: match[1] as 'plan-run' | 'send-batch' } : undefined;
  },
  confirmationEmail: (subscriberId: number) => `confirmation-email-${subscriberId}`,
  /** Used as a deduplication id: one welcome per confirmation burst (the ledger makes it once per edition). */
  welcomeEdition: (subscriberId: number) => `welcome-edition-${subscriberId}`,
  dataAccessEmail: (subscriberId: number) => `data-access-email-${subscriberId}`,
  /** Used as a deduplication id: one poll of a day at a time, never two overlapping. */
  ingestDay: (day: string) => `ingest-day-${day}`,
  enrichArxiv: (day: string) => `enrich-arxiv-${day}`,
};
