import { Queue, type JobsOptions } from 'bullmq';
import { Cluster, Redis } from 'ioredis';
import type { RedisConnection } from '../redis-connection.ts';
import { jobQueue, jobSchemas, queueNames, type JobData, type JobName, type QueueName } from './jobs.ts';

export interface RedisOptions {
  url: string;
  /** Workers block on Redis and must wait for it; producers (the API) should fail fast. */
  role: 'producer' | 'worker';
  /** `url` is one node of a Redis Cluster (REDIS_CLUSTER=true). */
  cluster?: boolean;
}

export function createRedis({ url, role, cluster = false }: RedisOptions): RedisConnection {
  const options = {
    maxRetriesPerRequest: role === 'worker' ? null : 2,
    enableOfflineQueue: role === 'worker',
    connectTimeout: 5_000,
    lazyConnect: false,
  };
  if (!cluster) return new Redis(url, options);
  const seed = new URL(url);
  return new Cluster([{ host: seed.hostname.replace(/^\[|\]$/g, ''), port: Number(seed.port || 6379) }], {
    enableOfflineQueue: options.enableOfflineQueue,
    // Node addresses come from the cluster itself (CLUSTER SLOTS); credentials and TLS from REDIS_URL.
    redisOptions: {
      ...options,
      username: seed.username ? decodeURIComponent(seed.username) : undefined,
      password: seed.password ? decodeURIComponent(seed.password) : undefined,
      tls: seed.protocol === 'rediss:' ? {} : undefined,
    },
  });
}

const defaultJobOptions: JobsOptions = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 2_000, jitter: 0.5 },
  removeOnComplete: { count: 1000, age: 24 * 3600 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

export class Queues {
  readonly byName: Record<QueueName, Queue>;

  constructor(
    readonly connection: RedisConnection,
    readonly prefix: string,
  ) {
    const make = (name: QueueName) => new Queue(name, { connection, prefix, defaultJobOptions });
    this.byName = {
      mail: make(queueNames.mail),
      digest: make(queueNames.digest),
      papers: make(queueNames.papers),
      arxiv: make(queueNames.arxiv),
      send: make(queueNames.send),
    };
    for (const queue of Object.values(this.byName)) queue.on('error', () => {});
  }

  /** Validates the payload before it reaches Redis, so a bad job fails where it is made. */
  async add<N extends JobName>(name: N, data: JobData<N>, options: JobsOptions = {}): Promise<void> {
    const payload = jobSchemas[name].parse(data);
    await this.byName[jobQueue[name]].add(name, payload, options);
  }

  async addBulk<N extends JobName>(name: N, jobs: { data: JobData<N>; jobId: string; options?: JobsOptions }[]): Promise<void> {
    if (jobs.length === 0) return;
    await this.byName[jobQueue[name]].addBulk(
      jobs.map((job) => ({ name, data: jobSchemas[name].parse(job.data), opts: { ...job.options, jobId: job.jobId } })),
    );
  }

  /** Jobs of a queue not yet finished: waiting, delayed, prioritized or running. */
  async countPendingJobs(queue: QueueName): Promise<number> {
    const counts = await this.byName[queue].getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children');
    return Object.values(counts).reduce((sum, n) => sum + n, 0);
  }

  /** Ids of the jobs of a queue not yet finished, in the same states as countPendingJobs. */
  async pendingJobIds(queue: QueueName): Promise<string[]> {
    return this.byName[queue].getRanges(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children'], 0, -1);
  }

  async close(): Promise<void> {
    await Promise.all(Object.values(this.byName).map((q) => q.close()));
  }
}
