import type { TestService } from './service.ts';
import { waitFor } from './wait-for.ts';

const nextDay = (day: string) => new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);

/**
 * Sends the daily edition of `day` the way the schedule does (a `daily-digest` job run the next
 * morning), and waits until its send run says it is done (or `until` holds).
 */
export async function sendDailyEdition(
  t: TestService,
  day: string,
  { until = (status: string) => status === 'sent', timeoutMs = 30_000 }: { until?: (status: string) => boolean; timeoutMs?: number } = {},
): Promise<{ id: number; runId: number; status: string }> {
  await t.service.queues.add('daily-digest', {}, { timestamp: Date.parse(`${nextDay(day)}T09:00:00Z`) });
  return waitFor(
    async () => {
      const run = await t.service.db
        .selectFrom('send_runs')
        .innerJoin('editions', 'editions.id', 'send_runs.edition_id')
        .select(['editions.id', 'send_runs.id as runId', 'send_runs.status'])
        .where('editions.digest_date', '=', day)
        .executeTakeFirst();
      return run && until(run.status) ? run : undefined;
    },
    { what: `the edition of ${day} to finish`, timeoutMs },
  );
}
