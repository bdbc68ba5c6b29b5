import type { Generated, Selectable } from 'kysely';

/** `empty`: no papers that day, never sent. `ready`: content fixed; sending is a send run's business. */
export type EditionStatus = 'empty' | 'ready';

/** An edition is content only: what was selected and how it reads. Sending it: send_runs. */
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
  /** Ranked candidates the edition was cut from (null: editions built before variants). */
  top_pool: string[] | null;
  trending_pool: string[] | null;
  created_at: Generated<Date>;
}

export type Edition = Selectable<EditionsTable>;
