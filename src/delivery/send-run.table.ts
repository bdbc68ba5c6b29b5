import type { Generated, Selectable } from 'kysely';

/** ready → planning → sending → sent; planning or sending may pause and resume. */
export type SendRunStatus = 'ready' | 'planning' | 'sending' | 'sent' | 'paused';

/** Sending one edition to one audience: everything about the send, nothing about the content. */
export interface SendRunsTable {
  id: Generated<number>;
  edition_id: number;
  audience: Generated<string>;
  status: SendRunStatus;
  /** Ledger ids per send job, fixed when planning starts. */
  batch_size: number | null;
  /** Planning cutoff: subscribers who joined after planning started wait for the next edition. */
  plan_started_at: Date | null;
  plan_max_subscriber_id: number | null;
  /** Highest subscriber id planned so far; a restarted planner continues after it. */
  plan_cursor: Generated<number>;
  planned_count: Generated<number>;
  planned_at: Date | null;
  send_started_at: Date | null;
  finished_at: Date | null;
  /** Bumped when lost jobs are re-enqueued, so new job ids never collide with old ones. */
  enqueue_generation: Generated<number>;
  policy_failures: Generated<number>;
  pause_reason: string | null;
  paused_at: Date | null;
  created_at: Generated<Date>;
}

export type SendRun = Selectable<SendRunsTable>;
