import { addDays, dayInZone } from '../dates.ts';

/**
 * The digest sent on a morning covers the papers featured the day before: by then that day's
 * Daily Papers list is complete.
 */
export function digestDayForRun(timeZone: string, runAt: Date): string {
  return addDays(dayInZone(timeZone, runAt), -1);
}
