import { sql } from 'kysely';
import { buildEdition, type EditionSettings } from '../editions/edition.service.ts';
import type { DeliveryDeps } from './deps.ts';
import { dueDailyDay, dueWeekMonday, tickLabel, tickOf } from './due.ts';
import { dueCondition } from './personal-plan.ts';
import { ensureSendRun } from './send-run.repository.ts';

export interface DueRun {
  kind: 'daily' | 'weekly';
  digestDate: string;
  editionId?: number;
  runId?: number;
  /** The run's status, or the edition's (`empty`) when there is nothing to send. */
  status: string;
}

/**
 * One hourly tick (issue #10, item 5): for daily and weekly readers whose local delivery hour
 * began since the previous tick (due.ts), fixes the edition due at this tick (once, like any
 * edition) and asks for a run of it for audience `due:<hour>`. Idempotent per hour: the same tick,
 * twice or at once, finds the same run and the same planning job, and the ledger's unique
 * (subscriber, edition) leaves out whoever already got that edition by any run.
 */
export async function deliverDue(
  deps: DeliveryDeps & { edition: EditionSettings },
  at: Date,
  kinds: readonly ('daily' | 'weekly')[] = ['daily', 'weekly'],
): Promise<DueRun[]> {
  const tick = tickOf(at);
  const runs: DueRun[] = [];
  for (const kind of kinds) {
    const digestDate = kind === 'daily' ? dueDailyDay(tick) : dueWeekMonday(tick);
    const due = await dueCondition(deps.db, kind, tick);
    const { rows } = await sql<{ any: boolean }>`select exists (select 1 from subscribers s where s.status = 'active' and ${due}) as any`.execute(deps.db);
    if (!rows[0]?.any) continue;
    const edition = await buildEdition(deps.db, kind, digestDate, deps.edition);
    if (edition.status === 'empty') {
      runs.push({ kind, digestDate, editionId: edition.id, status: 'empty' });
      continue;
    }
    const run = await ensureSendRun(deps.db, edition.id, `due:${tickLabel(tick)}`);
    if (run.status === 'ready' || run.status === 'planning' || run.status === 'sending') {
      await deps.jobs.enqueuePlanning(run.id, run.enqueue_generation);
    }
    runs.push({ kind, digestDate, editionId: edition.id, runId: run.id, status: run.status });
  }
  deps.log.info({ tick: tick.toISOString(), runs }, 'due digests requested');
  return runs;
}
