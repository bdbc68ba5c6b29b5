import type { Generated, Selectable } from 'kysely';

export type EditionStatus = 'empty' | 'ready' | 'planning' | 'sending' | 'sent' | 'paused';

export interface EditionsTable {
  id: Generated<number>;
  kind: Generated<'daily' | 'weekly'>;
  /** YYYY-MM-DD */
  digest_date: string;
  status: EditionStatus;
  paper_ids: string[];
  subject: string;
  /** Rendered once per edition; per-recipient values are spliced into the placeholders. */
  html_template: string;
  text_template: string;
  planned_count: Generated<number>;
  created_at: Generated<Date>;
  planned_at: Date | null;
  finished_at: Date | null;
  plan_started_at: Date | null;
  plan_max_subscriber_id: number | null;
  plan_cursor: Generated<number>;
  send_started_at: Date | null;
  batch_size: number | null;
  enqueue_generation: Generated<number>;
  policy_failures: Generated<number>;
  pause_reason: string | null;
  paused_at: Date | null;
  sent_papers_recorded_at: Date | null;
}

export type Edition = Selectable<EditionsTable>;
