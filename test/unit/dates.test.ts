import { describe, expect, it } from 'vitest';
import {
  addDays,
  dayInZone,
  formatIsoWeek,
  hourInZone,
  isIsoDay,
  isKnownTimeZone,
  isoWeekOf,
  isoWeekStart,
  parseIsoDay,
  recentUtcDays,
  weekdayOf,
} from '../../src/dates.ts';
import { digestDayForRun } from '../../src/editions/digest-day.ts';

describe('ISO days', () => {
  it('accepts real calendar days only', () => {
    for (const day of ['2025-12-26', '2024-02-29', '2000-02-29', '1999-12-31']) expect(isIsoDay(day)).toBe(true);
    for (const day of ['2025-02-29', '2025-13-01', '2025-00-10', '2025-12-32', '2025-1-01', '20251226', '2025-12-26T00:00', ' 2025-12-26', '']) {
      expect(isIsoDay(day)).toBe(false);
    }
    expect(parseIsoDay('2025-12-26')).toBe('2025-12-26');
    expect(() => parseIsoDay('2023-02-29')).toThrow(/calendar day as YYYY-MM-DD, got "2023-02-29"/);
  });

  it('moves across month, year and leap-day boundaries', () => {
    expect(addDays('2025-12-31', 1)).toBe('2026-01-01');
    expect(addDays('2026-01-01', -1)).toBe('2025-12-31');
    expect(addDays('2024-02-28', 1)).toBe('2024-02-29');
    expect(addDays('2025-02-28', 1)).toBe('2025-03-01');
    expect(addDays('2025-03-30', 0)).toBe('2025-03-30');
    expect(addDays('2025-12-26', -365)).toBe('2024-12-26');
    expect(weekdayOf('2025-12-22')).toBe(1); // a Monday
  });

  it('lists recent UTC days, newest first, whatever the offset of the instant', () => {
    expect(recentUtcDays(new Date('2025-12-26T23:30:00-05:00'), 3)).toEqual(['2025-12-27', '2025-12-26', '2025-12-25']);
    expect(recentUtcDays(new Date('2024-03-01T00:00:00Z'), 2)).toEqual(['2024-03-01', '2024-02-29']);
  });
});

describe('days and hours in a time zone', () => {
  it('gives the local day at an instant, either side of midnight', () => {
    expect(dayInZone('UTC', new Date('2025-12-26T23:59:59Z'))).toBe('2025-12-26');
    expect(dayInZone('Asia/Tokyo', new Date('2025-12-26T15:00:00Z'))).toBe('2025-12-27');
    expect(dayInZone('America/Los_Angeles', new Date('2025-12-27T07:59:00Z'))).toBe('2025-12-26');
    // A half-hour zone.
    expect(dayInZone('Asia/Kolkata', new Date('2025-12-26T18:29:00Z'))).toBe('2025-12-26');
    expect(dayInZone('Asia/Kolkata', new Date('2025-12-26T18:30:00Z'))).toBe('2025-12-27');
  });

  it('follows DST: the same local hour is a different UTC instant in summer and winter', () => {
    // Europe/Berlin: UTC+1 in winter, UTC+2 from 2025-03-30 01:00 UTC to 2025-10-26 01:00 UTC.
    expect(hourInZone('Europe/Berlin', new Date('2025-01-15T07:00:00Z'))).toBe(8);
    expect(hourInZone('Europe/Berlin', new Date('2025-07-15T06:00:00Z'))).toBe(8);
    // The spring-forward night: 01:59 UTC is 03:59 local; 02:xx local never happens.
    expect(hourInZone('Europe/Berlin', new Date('2025-03-30T00:59:00Z'))).toBe(1);
    expect(hourInZone('Europe/Berlin', new Date('2025-03-30T01:00:00Z'))).toBe(3);
    // The fall-back night: 02:xx local happens twice.
    expect(hourInZone('Europe/Berlin', new Date('2025-10-26T00:30:00Z'))).toBe(2);
    expect(hourInZone('Europe/Berlin', new Date('2025-10-26T01:30:00Z'))).toBe(2);
    expect(hourInZone('America/New_York', new Date('2025-03-09T06:59:00Z'))).toBe(1);
    expect(hourInZone('America/New_York', new Date('2025-03-09T07:00:00Z'))).toBe(3);
    // Midnight is 0, never 24.
    expect(hourInZone('UTC', new Date('2025-12-26T00:00:00Z'))).toBe(0);
    // DST never moves a local day: both fall-back hours are the same day.
    expect(dayInZone('Europe/Berlin', new Date('2025-10-26T00:30:00Z'))).toBe('2025-10-26');
    expect(dayInZone('Europe/Berlin', new Date('2025-10-25T22:30:00Z'))).toBe('2025-10-26');
    expect(dayInZone('Europe/Berlin', new Date('2025-10-25T21:59:00Z'))).toBe('2025-10-25');
  });

  it('picks the digest day before the local day of the run, across DST changes', () => {
    // The 08:00 run in Berlin on the day summer time starts and ends.
    expect(digestDayForRun('Europe/Berlin', new Date('2025-03-30T06:00:00Z'))).toBe('2025-03-29');
    expect(digestDayForRun('Europe/Berlin', new Date('2025-10-26T07:00:00Z'))).toBe('2025-10-25');
    // A run just after local midnight in Los Angeles is still "yesterday" in UTC.
    expect(digestDayForRun('America/Los_Angeles', new Date('2025-12-27T08:05:00Z'))).toBe('2025-12-26');
  });

  it('knows real zone names only', () => {
    expect(isKnownTimeZone('Europe/Berlin')).toBe(true);
    expect(isKnownTimeZone('Mars/Olympus_Mons')).toBe(false);
  });
});

describe('ISO weeks', () => {
  it('numbers weeks from the week holding the first Thursday, with its own year', () => {
    expect(isoWeekOf('2025-12-26')).toEqual({ year: 2025, week: 52 });
    // 2026-01-01 is a Thursday: week 1 of 2026 starts on Monday 2025-12-29.
    expect(isoWeekOf('2025-12-29')).toEqual({ year: 2026, week: 1 });
    expect(isoWeekOf('2026-01-04')).toEqual({ year: 2026, week: 1 });
    // 2021-01-01 is a Friday: it belongs to the last week of 2020, which has 53 weeks.
    expect(isoWeekOf('2021-01-01')).toEqual({ year: 2020, week: 53 });
    expect(isoWeekOf('2021-01-04')).toEqual({ year: 2021, week: 1 });
    expect(isoWeekOf('2024-12-30')).toEqual({ year: 2025, week: 1 });
    expect(formatIsoWeek(isoWeekOf('2026-03-02'))).toBe('2026-W10');
  });

  it('round-trips every day of several years through week start', () => {
    for (let day = '2019-12-30'; day < '2027-01-04'; day = addDays(day, 1)) {
      const week = isoWeekOf(day);
      const monday = isoWeekStart(week);
      expect(weekdayOf(monday)).toBe(1);
      const offset = (weekdayOf(day) + 6) % 7;
      expect(addDays(monday, offset)).toBe(day);
    }
    expect(isoWeekStart({ year: 2026, week: 1 })).toBe('2025-12-29');
    expect(isoWeekStart({ year: 2020, week: 53 })).toBe('2020-12-28');
  });
});
