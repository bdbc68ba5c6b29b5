import { Worker, type Job } from 'bullmq';
import type { RedisConnection as Redis } from '../redis-connection.ts';
import type { Logger } from '../logger.ts';
import { jobQueue, jobSchemas, queueNames, type JobData, type JobName, type QueueName } from './jobs.ts';

export type JobHandler<N extends JobName> = (data: JobData<N>, job: Job) => Promise<unknown>;
export type JobHandlers = { [N in JobName]: JobHandler<N> };

export interface WorkerSettings {
  connection: Redis;
  prefix: string;
  log: Logger;
  concurrency: Partial<Record<QueueName, number>>;
  /** BullMQ limiters are global across every worker of a queue (arXiv: one request per 3 s). */
  limiters?: Partial<Record<QueueName, { max: number; duration: number }>>;
  /** How long a job's lock lives without renewal; a crashed worker's jobs are retaken after it. */
  lockDurationMs?: number;
  /** Delay before retry n (1-based) of jobs whose backoff type is not BullMQ's own. */
  backoffStrategy?: (attemptsMade: number) => number;
}

/**
 * One worker per queue, dispatching on the job name. Every job name must have a handler: a
 * missing one fails here, at start-up, rather than when the first such job arrives.
 */
export function startWorkers(
  handlers: JobHandlers,
  settings: WorkerSettings,
  only: QueueName[] = Object.values(queueNames),
): { close(): Promise<void> } {
  for (const name of Object.keys(jobSchemas) as JobName[]) {
    if (typeof handlers[name] !== 'function') throw new Error(`no handler registered for job ${name}`);
  }
  const workers = only.map((queueName) => {
    const worker = new Worker(
      queueName,
      async (job) => {
        const name = job.name as JobName;
        if (!(name in jobSchemas) || jobQueue[name] !== queueName) throw new Error(`unknown job ${job.name} on queue ${queueName}`);
        const data = jobSchemas[name].parse(job.data);
        return (handlers[name] as JobHandler<JobName>)(data as JobData<JobName>, job);
      },
      {
        connection: settings.connection,
        prefix: settings.prefix,
        concurrency: settings.concurrency[queueName] ?? 1,
        lockDuration: settings.lockDurationMs ?? 30_000,
        stalledInterval: settings.lockDurationMs ?? 30_000,
        // Re-running a stalled job is harmless (the ledger's status lock decides who sends), and
        // a worker killed twice must not fail the job for good.
        maxStalledCount: 10,
        ...(settings.backoffStrategy ? { settings: { backoffStrategy: settings.backoffStrategy } } : {}),
        ...(settings.limiters?.[queueName] ? { limiter: settings.limiters[queueName] } : {}),
      },
    );
    worker.on('failed', (job, error) =>
      settings.log.warn({ queue: queueName, job: job?.name, jobId: job?.id, attempts: job?.attemptsMade, err: error.message }, 'job failed'),
    );
    worker.on('error', (error) => settings.log.error({ queue: queueName, err: error.message }, 'worker error'));
    return worker;
  });
  return {
    async close() {
      await Promise.all(workers.map((w) => w.close()));
    },
  };
}
