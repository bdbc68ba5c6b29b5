import type { Cluster, Redis } from 'ioredis';

/** One Redis server, or a Redis Cluster when REDIS_CLUSTER_NODES is set (src/queue/queues.ts createRedis). */
export type RedisConnection = Redis | Cluster;
