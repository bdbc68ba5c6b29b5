import { describe, expect, it } from 'vitest';
import { dueDailyDay, dueHoursInZone, dueWeekMonday, tickOf } from '../../src/delivery/due.ts';

const HOUR = 3_600_000;

/** Every tick of [from, to) at which a reader of `zone` with delivery hour `hour` is due, as ISO instants. */
function dueTicks(zone: string, hour: number, from: string, to: string): string[] {
  const out: string[] = [];
  for (let t = Date.parse(from); t < Date.parse(to); t += HOUR) {
    const due = dueHoursInZone(zone, new Date(t));
    if (due.hours.includes(hour)) out.push(`${new Date(t).toISOString().slice(0, 13)} ${due.localDate}`);
  }
  return out;
}

describe('due time of a reader (Intl time zones)', () => {
  it('serves Europe/Berlin at 08:00 local once a day, across the spring and autumn DST changes', () => {
    // 2026-03-29: CET → CEST at 02:00; 08:00 local moves from 07:00Z to 06:00Z.
    expect(dueTicks('Europe/Berlin', 8, '2026-03-28T00:00Z', '2026-03-31T00:00Z')).toEqual([
      '2026-03-28T07 2026-03-28',
      '2026-03-29T06 2026-03-29',
      '2026-03-30T06 2026-03-30',
    ]);
    // 2026-10-25: back to CET.
    expect(dueTicks('Europe/Berlin', 8, '2026-10-24T00:00Z', '2026-10-27T00:00Z')).toEqual([
      '2026-10-24T06 2026-10-24',
      '2026-10-25T07 2026-10-25',
      '2026-10-26T07 2026-10-26',
    ]);
  });

  it('serves America/New_York once a day, and the skipped and the repeated hour exactly once', () => {
    expect(dueTicks('America/New_York', 8, '2026-03-07T00:00Z', '2026-03-10T00:00Z')).toEqual([
      '2026-03-07T13 2026-03-07',
      '2026-03-08T12 2026-03-08',
      '2026-03-09T12 2026-03-09',
    ]);
    // 02:00 does not exist on 2026-03-08 (clocks jump 02:00 → 03:00): served at the 03:00 tick.
    expect(dueTicks('America/New_York', 2, '2026-03-08T00:00Z', '2026-03-09T00:00Z')).toEqual(['2026-03-08T07 2026-03-08']);
    // 01:00 happens twice on 2026-11-01: served the first time only.
    expect(dueTicks('America/New_York', 1, '2026-11-01T00:00Z', '2026-11-02T00:00Z')).toEqual(['2026-11-01T05 2026-11-01']);
  });

  it('serves Australia/Lord_Howe (a 30-minute DST shift) once a day, at the first tick at or after its hour', () => {
    // Summer (UTC+11): 08:00 local is 21:00Z the day before, on the hour.
    expect(dueTicks('Australia/Lord_Howe', 8, '2025-12-25T00:00Z', '2025-12-28T00:00Z')).toEqual([
      '2025-12-25T21 2025-12-26',
      '2025-12-26T21 2025-12-27',
      '2025-12-27T21 2025-12-28',
    ]);
    // 2026-04-05 02:00 local (15:00Z on the 4th): back from UTC+11 to UTC+10:30; ticks then fall at
    // hh:30 local, so 08:00 is served at 08:30.
    expect(dueTicks('Australia/Lord_Howe', 8, '2026-04-03T00:00Z', '2026-04-07T00:00Z')).toEqual([
      '2026-04-03T21 2026-04-04',
      '2026-04-04T22 2026-04-05',
      '2026-04-05T22 2026-04-06',
      '2026-04-06T22 2026-04-07',
    ]);
    // 2026-10-04 02:00 → 02:30: the 02:00 hour is half skipped, still served once.
    const halfSkipped = dueTicks('Australia/Lord_Howe', 2, '2026-10-03T12:00Z', '2026-10-04T12:00Z');
    expect(halfSkipped).toHaveLength(1);
    expect(halfSkipped[0]).toMatch(/ 2026-10-04$/);
  });

  it('picks the edition by the tick alone: the last complete UTC day, the last complete ISO week', () => {
    expect(tickOf(new Date('2025-12-27T07:42:10Z')).toISOString()).toBe('2025-12-27T07:00:00.000Z');
    expect(dueDailyDay(new Date('2025-12-27T07:00:00Z'))).toBe('2025-12-26');
    expect(dueDailyDay(new Date('2025-12-26T21:00:00Z'))).toBe('2025-12-25');
    // Monday 29 December: the week 22–28 December has ended.
    expect(dueWeekMonday(new Date('2025-12-29T07:00:00Z'))).toBe('2025-12-22');
    // Lord Howe's Monday 08:00 is Sunday 21:00Z: that week is not over, the one before is due.
    expect(dueWeekMonday(new Date('2025-12-28T21:00:00Z'))).toBe('2025-12-15');
  });
});
