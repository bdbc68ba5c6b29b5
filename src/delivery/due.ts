import { addDays, dayInZone, hourInZone, utcDayOf, weekdayOf } from '../dates.ts';

/**
 * When a reader's digest is due (issue #10, item 5). An hourly tick at instant T (a whole UTC
 * hour) serves every reader whose local delivery hour began since the previous tick: the hours
 * crossed between T − 1 h and T on their zone's clock, read through Intl (src/dates.ts). A spring
 * DST gap (a skipped hour, or Lord Howe's half hour) is crossed and so still served; an autumn
 * repeat crosses nothing and so sends nothing again; a zone 30 or 45 minutes off the hour is
 * served at the first tick after its local hour began. Which edition is due depends on T alone:
 * the last UTC day complete at T (daily), the last ISO week complete at T (weekly, on the
 * reader's Monday). The ledger's unique (subscriber, edition) does the rest: two ticks, a zone
 * change on the day or a send --date never make a second copy.
 */

const HOUR_MS = 3_600_000;

/** The tick an instant belongs to: the whole UTC hour at or before it. */
export function tickOf(at: Date): Date {
  return new Date(Math.floor(at.getTime() / HOUR_MS) * HOUR_MS);
}

export interface ZoneDue {
  zone: string;
  /** The reader's day at the tick. */
  localDate: string;
  /** Delivery hours (0–23) that began in this zone since the previous tick. */
  hours: number[];
}

export function dueHoursInZone(zone: string, tick: Date): ZoneDue {
  const before = new Date(tick.getTime() - HOUR_MS);
  const localDate = dayInZone(zone, tick);
  const hour = hourInZone(zone, tick);
  const previousHour = hourInZone(zone, before);
  const first = dayInZone(zone, before) === localDate ? previousHour + 1 : 0;
  const hours: number[] = [];
  for (let h = first; h <= hour; h++) hours.push(h);
  return { zone, localDate, hours };
}

/** The daily edition due at a tick: the last UTC day complete by then (its Daily Papers list is final). */
export function dueDailyDay(tick: Date): string {
  return addDays(utcDayOf(tick), -1);
}

/** The Monday of the last ISO week complete at the tick (its Sunday ended in UTC). */
export function dueWeekMonday(tick: Date): string {
  const lastDay = dueDailyDay(tick);
  // Days since the last Sunday on or before lastDay (weekday 0), then back to its Monday.
  const lastSunday = addDays(lastDay, -weekdayOf(lastDay));
  return addDays(lastSunday, -6);
}

/** ISO label of a tick for run audiences and job ids, e.g. 2025-12-27T07. */
export function tickLabel(tick: Date): string {
  return tick.toISOString().slice(0, 13);
}

export function isMonday(day: string): boolean {
  return weekdayOf(day) === 1;
}
