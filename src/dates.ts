/**
 * Calendar days, weeks and time zones, in one place. A day is an ISO 8601 calendar date string
 * (`YYYY-MM-DD`): that is how Postgres `date` columns, the Daily Papers API and the CLI spell it.
 * Day arithmetic runs in UTC, where every day has 24 hours; only "which day (or hour) is it in
 * zone Z at instant T" looks at a time zone, through Intl, so DST shifts never move a day.
 */

const ISO_DAY = /^\d{4}-\d{2}-\d{2}$/;
/** Milliseconds in a UTC day (UTC has no DST). */
export const DAY_MS = 86_400_000;

/** True for a real calendar day written as YYYY-MM-DD (2025-02-30 is not one). */
export function isIsoDay(value: string): boolean {
  if (!ISO_DAY.test(value)) return false;
  const time = Date.parse(`${value}T00:00:00Z`);
  return !Number.isNaN(time) && new Date(time).toISOString().slice(0, 10) === value;
}

/** Returns `value` if it is a calendar day, else throws a RangeError naming it. */
export function parseIsoDay(value: string): string {
  if (!isIsoDay(value)) throw new RangeError(`expected a calendar day as YYYY-MM-DD, got ${JSON.stringify(value)}`);
  return value;
}

/** 00:00 UTC at the start of `day`. */
export function startOfUtcDay(day: string): Date {
  return new Date(`${day}T00:00:00Z`);
}

/** The UTC calendar day of an instant. */
export function utcDayOf(instant: Date): string {
  return instant.toISOString().slice(0, 10);
}

/** `day` moved by `days` calendar days (negative: earlier). */
export function addDays(day: string, days: number): string {
  return utcDayOf(new Date(startOfUtcDay(day).getTime() + days * DAY_MS));
}

/** 0 = Sunday … 6 = Saturday, as Date#getUTCDay. */
export function weekdayOf(day: string): number {
  return startOfUtcDay(day).getUTCDay();
}

/**
 * `count` calendar days in UTC ending with the UTC day of `instant`, newest first:
 * recentUtcDays(new Date('2025-12-26T08:00Z'), 3) → ['2025-12-26', '2025-12-25', '2025-12-24'].
 */
export function recentUtcDays(instant: Date, count: number): string[] {
  const last = utcDayOf(instant);
  return Array.from({ length: count }, (_, i) => addDays(last, -i));
}

const dayFormats = new Map<string, Intl.DateTimeFormat>();
const hourFormats = new Map<string, Intl.DateTimeFormat>();

function cachedFormat(cache: Map<string, Intl.DateTimeFormat>, timeZone: string, make: () => Intl.DateTimeFormat): Intl.DateTimeFormat {
  let format = cache.get(timeZone);
  if (!format) cache.set(timeZone, (format = make()));
  return format;
}

/** The calendar day in `timeZone` at `instant`, e.g. dayInZone('Asia/Tokyo', 2025-12-26T16:00Z) → '2025-12-27'. */
export function dayInZone(timeZone: string, instant: Date): string {
  // en-CA formats as YYYY-MM-DD.
  const format = cachedFormat(dayFormats, timeZone, () => new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }));
  return format.format(instant);
}

/** The wall-clock hour (0–23) in `timeZone` at `instant`. */
export function hourInZone(timeZone: string, instant: Date): number {
  const format = cachedFormat(hourFormats, timeZone, () => new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', hourCycle: 'h23' }));
  return Number(format.format(instant));
}

const knownZones = new Map<string, boolean>();

/**
 * True for an IANA time zone name the runtime knows, such as Europe/Berlin. Building a formatter
 * costs about a millisecond, which an import of 100,000 rows would pay per row: answers are kept
 * (a bounded number, so hostile input cannot grow the cache without limit).
 */
export function isKnownTimeZone(tz: string): boolean {
  const cached = knownZones.get(tz);
  if (cached !== undefined) return cached;
  let known: boolean;
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    known = true;
  } catch {
    known = false;
  }
  if (knownZones.size < 2_000) knownZones.set(tz, known);
  return known;
}

export interface IsoWeek {
  /** The ISO week-numbering year, which differs from the calendar year around New Year. */
  year: number;
  week: number;
}

/** ISO 8601 week of a day: weeks start on Monday, week 1 holds the year's first Thursday. */
export function isoWeekOf(day: string): IsoWeek {
  const date = startOfUtcDay(parseIsoDay(day));
  const weekday = (date.getUTCDay() + 6) % 7; // Monday 0 … Sunday 6
  // The Thursday of this week decides the week-numbering year.
  const thursday = new Date(date.getTime() + (3 - weekday) * DAY_MS);
  const year = thursday.getUTCFullYear();
  const firstThursdayWeekStart = isoWeekStart({ year, week: 1 });
  const week = 1 + Math.round((date.getTime() - weekday * DAY_MS - startOfUtcDay(firstThursdayWeekStart).getTime()) / (7 * DAY_MS));
  return { year, week };
}

/** The Monday that starts an ISO week. */
export function isoWeekStart({ year, week }: IsoWeek): string {
  // 4 January is always in week 1.
  const jan4 = new Date(Date.UTC(year, 0, 4));
  const mondayOfWeek1 = jan4.getTime() - ((jan4.getUTCDay() + 6) % 7) * DAY_MS;
  return utcDayOf(new Date(mondayOfWeek1 + (week - 1) * 7 * DAY_MS));
}

/** `2026-W01` style label of an ISO week. */
export function formatIsoWeek({ year, week }: IsoWeek): string {
  return `${year}-W${String(week).padStart(2, '0')}`;
}
