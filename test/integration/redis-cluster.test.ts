import { Cluster } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { startFaultDrill, type FaultDrill } from '../helpers/fault-drill.ts';
import { startRedisCluster, type LocalRedisCluster } from '../helpers/redis-cluster.ts';
import { startTestService } from '../helpers/service.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { stopAllWorkers } from '../helpers/worker-process.ts';

/** Issue 12, item 6: the same workers over a 3-master Redis Cluster, with a hash-tagged prefix. */
describe('on a Redis Cluster', () => {
  let cluster: LocalRedisCluster;
  let drill: FaultDrill | undefined;
  beforeAll(async () => {
    cluster = await startRedisCluster(3);
  }, 60_000);
  afterEach(async () => {
    await stopAllWorkers();
    await drill?.stop();
    drill = undefined;
  });
  afterAll(async () => cluster?.stop());

  it('refuses a queue prefix without a hash tag, naming the fix', () => {
    expect(() => loadConfig({ REDIS_CLUSTER: 'true', QUEUE_PREFIX: 'paperboy' })).toThrow(ConfigError);
    expect(() => loadConfig({ REDIS_CLUSTER: 'true', QUEUE_PREFIX: 'paperboy' })).toThrow(/QUEUE_PREFIX=\{paperboy\}/);
    expect(loadConfig({ REDIS_CLUSTER: 'true', QUEUE_PREFIX: '{paperboy}' }).redisCluster).toBe(true);
  });

  it('two worker processes send a whole edition with zero duplicates, every row final', async () => {
    drill = await startFaultDrill({ subscribers: 1500, env: { REDIS_URL: cluster.url, REDIS_CLUSTER: 'true', QUEUE_PREFIX: '{pbcluster}' } });
    drill.startWorker();
    drill.startWorker();
    const run = await drill.request('2025-12-26');
    await drill.waitUntilFinished(run);
    const counts = await drill.expectSound(run);
    expect(counts).toEqual({ sent: 1500 });
    expect(drill.sink.messages).toHaveLength(1500);

    // The queues really lived on the cluster: their keys share the hash tag's slot, on one master.
    const client = new Cluster([{ host: '127.0.0.1', port: cluster.ports[0]! }]);
    try {
      await new Promise((resolve) => client.once('ready', resolve));
      expect(client.nodes('master')).toHaveLength(3);
      const masters = client.nodes('master');
      const perNode = await Promise.all(masters.map(async (node) => (await node.keys('{pbcluster}:*')).length));
      expect(perNode.filter((n) => n > 0)).toHaveLength(1);
      expect(Math.max(...perNode)).toBeGreaterThan(0);
    } finally {
      client.disconnect();
    }
  }, 180_000);

  it('the API counts its rate limits there and queues confirmations the worker sends', async () => {
    const t = await startTestService({ REDIS_URL: cluster.url, REDIS_CLUSTER: 'true', QUEUE_PREFIX: '{pbapi}', RATE_LIMIT_NAMESPACE: 'pbapi-rl', RATE_LIMIT_SUBSCRIBE_IP: '3/1m' });
    try {
      const statuses: number[] = [];
      for (let i = 1; i <= 4; i++) {
        const res = await fetch(`${t.baseUrl}/subscribe`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: `cluster-${i}@example.org` }) });
        statuses.push(res.status);
      }
      expect(statuses).toEqual([202, 202, 202, 429]);
      await waitFor(() => t.sink.messages.length >= 3, { what: 'three confirmation emails', timeoutMs: 30_000 });
      expect(t.sink.messages.map((m) => m.envelopeTo[0]).sort()).toEqual(['cluster-1@example.org', 'cluster-2@example.org', 'cluster-3@example.org']);
      const ready = await fetch(`${t.baseUrl}/readyz`);
      expect(ready.status).toBe(200);
    } finally {
      await t.stop();
    }
  }, 120_000);
});
