import { addDays, formatIsoWeek, isIsoDay, isoWeekOf, isoWeekStart } from '../dates.ts';

/** Addresses of an edition on the web; the digest links to them, so they never change. */

/** The ISO week of a day as YYYY-Www (the week's year, which can differ from the day's). */
export function isoWeekLabel(day: string): string {
  return formatIsoWeek(isoWeekOf(day));
}

/** Monday and Sunday of an ISO week given as YYYY-Www; undefined for anything else (W53 of a 52-week year too). */
export function isoWeekDays(label: string): { first: string; last: string } | undefined {
  const match = /^(\d{4})-W(\d{2})$/.exec(label);
  if (!match) return undefined;
  const week = { year: Number(match[1]), week: Number(match[2]) };
  if (week.week < 1 || week.week > 53) return undefined;
  const first = isoWeekStart(week);
  if (isoWeekLabel(first) !== label) return undefined;
  return { first, last: addDays(first, 6) };
}

export function archivePath(kind: 'daily' | 'weekly', digestDate: string): string {
  return kind === 'weekly' ? `/archive/week/${isoWeekLabel(digestDate)}` : `/archive/${digestDate}`;
}

export { isIsoDay as isValidDay };
