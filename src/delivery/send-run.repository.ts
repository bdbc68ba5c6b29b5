import { sql } from 'kysely';
import type { Executor } from '../db/database.ts';
import type { SendRun } from './send-run.table.ts';

/**
 * The run that sends an edition to an audience (personal-plan.ts: `subscribers`, `due:<hour>`,
 * `welcome:<id>`), created once (a repeat returns the same row).
 */
export async function ensureSendRun(db: Executor, editionId: number, audience = 'subscribers'): Promise<SendRun> {
  await db
    .insertInto('send_runs')
    .values({ edition_id: editionId, status: 'ready', audience })
    .onConflict((oc) => oc.columns(['edition_id', 'audience']).doNothing())
    .execute();
  const run = await findSendRunByEdition(db, editionId, audience);
  if (!run) throw new Error(`send run of edition ${editionId} vanished after insert`);
  return run;
}

export async function findSendRunById(db: Executor, id: number): Promise<SendRun | undefined> {
  return db.selectFrom('send_runs').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function findSendRunByEdition(db: Executor, editionId: number, audience = 'subscribers'): Promise<SendRun | undefined> {
  return db.selectFrom('send_runs').selectAll().where('edition_id', '=', editionId).where('audience', '=', audience).executeTakeFirst();
}

/** Marks a sending run sent once no ledger row is still queued or sending. */
export async function finishRunIfDone(db: Executor, id: number): Promise<boolean> {
  const result = await db
    .updateTable('send_runs')
    .set({ status: 'sent', finished_at: sql`now()` })
    .where('id', '=', id)
    .where('status', '=', 'sending')
    .where(({ not, exists, selectFrom }) =>
      not(exists(selectFrom('deliveries').select(sql`1`.as('one')).where('run_id', '=', id).where('status', 'in', ['queued', 'sending']))),
    )
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/**
 * Fixes the planning cutoff the first time planning starts (a restarted planner keeps it): the
 * highest subscriber id and the instant at which planning began.
 */
export async function beginPlanning(db: Executor, id: number, batchSize: number): Promise<SendRun | undefined> {
  return db
    .updateTable('send_runs')
    .set({
      status: 'planning',
      plan_started_at: sql`coalesce(plan_started_at, now())`,
      plan_max_subscriber_id: sql`coalesce(plan_max_subscriber_id, (select coalesce(max(id), 0) from subscribers))`,
      batch_size: sql`coalesce(batch_size, ${batchSize}::int)`,
    })
    .where('id', '=', id)
    .where('status', 'in', ['ready', 'planning'])
    .returningAll()
    .executeTakeFirst();
}

export async function finishPlanning(db: Executor, id: number, plannedCount: number): Promise<void> {
  await db
    .updateTable('send_runs')
    .set({ status: 'sending', planned_count: plannedCount, planned_at: sql`coalesce(planned_at, now())`, send_started_at: sql`coalesce(send_started_at, now())` })
    .where('id', '=', id)
    .where('status', '=', 'planning')
    .execute();
}

/** A new generation of job ids, for re-enqueueing work whose jobs were lost. */
export async function nextEnqueueGeneration(db: Executor, id: number): Promise<number> {
  const row = await db
    .updateTable('send_runs')
    .set({ enqueue_generation: sql`enqueue_generation + 1` })
    .where('id', '=', id)
    .returning('enqueue_generation')
    .executeTakeFirstOrThrow();
  return row.enqueue_generation;
}

/** Counts a policy rejection; returns the run's total so far. */
export async function countPolicyFailure(db: Executor, id: number): Promise<number> {
  const row = await db
    .updateTable('send_runs')
    .set({ policy_failures: sql`policy_failures + 1` })
    .where('id', '=', id)
    .returning('policy_failures')
    .executeTakeFirstOrThrow();
  return row.policy_failures;
}

/** Stops a run; workers claim nothing more of it until an operator resumes it. */
export async function pauseRun(db: Executor, id: number, reason: string): Promise<boolean> {
  const result = await db
    .updateTable('send_runs')
    .set({ status: 'paused', pause_reason: reason.slice(0, 1000), paused_at: sql`now()` })
    .where('id', '=', id)
    .where('status', 'in', ['planning', 'sending'])
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Resumes a paused run where it stopped: planning if it never finished, else sending. */
export async function resumeRun(db: Executor, id: number): Promise<SendRun | undefined> {
  return db
    .updateTable('send_runs')
    .set({
      status: sql`case when planned_at is null then 'planning' else 'sending' end`,
      pause_reason: null,
      paused_at: null,
      policy_failures: 0,
    })
    .where('id', '=', id)
    .where('status', '=', 'paused')
    .returningAll()
    .executeTakeFirst();
}

/** Runs a worker may still have to act on. */
export async function findRunsInFlight(db: Executor): Promise<SendRun[]> {
  return db.selectFrom('send_runs').selectAll().where('status', 'in', ['planning', 'sending']).orderBy('id').execute();
}

/**
 * A finished run sends again what was put back in its queue (an operator re-sending its unknown
 * deliveries); the next enqueue generation gives its jobs fresh ids.
 */
export async function reopenRun(db: Executor, id: number): Promise<SendRun | undefined> {
  return db
    .updateTable('send_runs')
    .set({ status: 'sending', finished_at: null, enqueue_generation: sql`enqueue_generation + 1` })
    .where('id', '=', id)
    .where('status', '=', 'sent')
    .returningAll()
    .executeTakeFirst();
}
