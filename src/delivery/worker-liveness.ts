import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Executor } from '../db/database.ts';
import type { Logger } from '../logger.ts';
import { beatDeliveryWorker, registerDeliveryWorker, removeDeliveryWorker } from './delivery.repository.ts';

export interface DeliveryWorkerLiveness {
  readonly id: string;
  stop(): Promise<void>;
}

/**
 * Registers this process as a sender and keeps its heartbeat fresh in Postgres. Rows it claims
 * carry its id; if the heartbeat stops (kill -9, a lost machine), the reconcile job turns those
 * rows `unknown` after the lease. Postgres, not Redis, so losing Redis never looks like a crash.
 */
export async function startDeliveryWorkerLiveness(db: Executor, log: Logger, leaseMs: number): Promise<DeliveryWorkerLiveness> {
  const id = `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
  await registerDeliveryWorker(db, { id, host: hostname(), pid: process.pid });
  const timer = setInterval(
    () => void beatDeliveryWorker(db, id).catch((error: Error) => log.warn({ err: error.message }, 'delivery worker heartbeat failed')),
    Math.max(200, Math.min(5_000, Math.floor(leaseMs / 3))),
  );
  timer.unref();
  return {
    id,
    async stop() {
      clearInterval(timer);
      // Called after the workers drained, so none of this process's rows is still `sending`.
      await removeDeliveryWorker(db, id);
    },
  };
}
