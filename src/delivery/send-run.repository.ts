import { sql } from 'kysely';
import type { Executor } from '../db/database.ts';
import type { Edition } from '../editions/edition.table.ts';

/*
 * The state of sending an edition: planning cutoff and cursor, batch size, job generation,
 * pause state, counters and timestamps. Only the delivery modules change it.
 */

/** Marks a sending edition sent once no ledger row is still queued or sending. */
export async function finishRunIfDone(db: Executor, id: number): Promise<boolean> {
  const result = await db
    .updateTable('editions')
    .set({ status: 'sent', finished_at: sql`now()` })
    .where('id', '=', id)
    .where('status', '=', 'sending')
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('deliveries').select(sql`1`.as('one')).where('edition_id', '=', id).where('status', 'in', ['queued', 'sending']),
        ),
      ),
    )
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/**
 * Fixes the planning cutoff the first time planning starts (a restarted planner keeps it): the
 * highest subscriber id and the instant at which planning began.
 */
export async function beginPlanning(db: Executor, id: number, batchSize: number): Promise<Edition | undefined> {
  return db
    .updateTable('editions')
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
    .updateTable('editions')
    .set({ status: 'sending', planned_count: plannedCount, planned_at: sql`coalesce(planned_at, now())`, send_started_at: sql`coalesce(send_started_at, now())` })
    .where('id', '=', id)
    .where('status', '=', 'planning')
    .execute();
}

/** A new generation of send-batch job ids, for re-enqueueing work whose jobs were lost. */
export async function nextEnqueueGeneration(db: Executor, id: number): Promise<number> {
  const row = await db
    .updateTable('editions')
    .set({ enqueue_generation: sql`enqueue_generation + 1` })
    .where('id', '=', id)
    .returning('enqueue_generation')
    .executeTakeFirstOrThrow();
  return row.enqueue_generation;
}

/** Counts a policy rejection; returns the edition's total so far. */
export async function countPolicyFailure(db: Executor, id: number): Promise<number> {
  const row = await db
    .updateTable('editions')
    .set({ policy_failures: sql`policy_failures + 1` })
    .where('id', '=', id)
    .returning('policy_failures')
    .executeTakeFirstOrThrow();
  return row.policy_failures;
}

/** Stops an edition; workers claim nothing more of it until an operator resumes it. */
export async function pauseRun(db: Executor, id: number, reason: string): Promise<boolean> {
  const result = await db
    .updateTable('editions')
    .set({ status: 'paused', pause_reason: reason.slice(0, 1000), paused_at: sql`now()` })
    .where('id', '=', id)
    .where('status', 'in', ['planning', 'sending'])
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Resumes a paused edition where it stopped: planning if it never finished, else sending. */
export async function resumeRun(db: Executor, id: number): Promise<Edition | undefined> {
  return db
    .updateTable('editions')
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

export async function markSentPapersRecorded(db: Executor, id: number): Promise<void> {
  await db.updateTable('editions').set({ sent_papers_recorded_at: sql`now()` }).where('id', '=', id).execute();
}

/** Sent editions whose sent_papers rows are not (all) written yet. */
export async function findEditionsMissingSentPapers(db: Executor): Promise<Edition[]> {
  return db.selectFrom('editions').selectAll().where('status', '=', 'sent').where('sent_papers_recorded_at', 'is', null).orderBy('id').execute();
}

/** Editions a worker may still have to act on. */
export async function findRunsInFlight(db: Executor): Promise<Edition[]> {
  return db.selectFrom('editions').selectAll().where('status', 'in', ['planning', 'sending']).orderBy('id').execute();
}
