import type { Executor } from '../db/database.ts';
import type { Edition, EditionStatus } from './edition.table.ts';

export async function findEditionByDate(db: Executor, kind: 'daily' | 'weekly', day: string): Promise<Edition | undefined> {
  return db.selectFrom('editions').selectAll().where('kind', '=', kind).where('digest_date', '=', day).executeTakeFirst();
}

export async function findEditionById(db: Executor, id: number): Promise<Edition | undefined> {
  return db.selectFrom('editions').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Inserts the edition unless another process got there first; either way returns the stored row. */
export async function insertEditionOnce(
  db: Executor,
  values: {
    kind: 'daily' | 'weekly';
    digestDate: string;
    status: EditionStatus;
    paperIds: string[];
    subject: string;
    html: string;
    text: string;
    pools?: { top: string[]; trending: string[] };
  },
): Promise<Edition> {
  await db
    .insertInto('editions')
    .values({
      kind: values.kind,
      digest_date: values.digestDate,
      status: values.status,
      paper_ids: values.paperIds,
      subject: values.subject,
      html_template: values.html,
      text_template: values.text,
      top_pool: values.pools?.top ?? null,
      trending_pool: values.pools?.trending ?? null,
    })
    .onConflict((oc) => oc.columns(['kind', 'digest_date']).doNothing())
    .execute();
  const edition = await findEditionByDate(db, values.kind, values.digestDate);
  if (!edition) throw new Error(`edition ${values.kind} ${values.digestDate} vanished after insert`);
  return edition;
}

