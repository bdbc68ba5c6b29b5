export interface RateLimit {
  readonly max: number;
  readonly windowMs: number;
}

const windowUnits: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses "5/1m,30/1d" into limits; undefined when any part is malformed. */
export function parseRateList(value: string): RateLimit[] | undefined {
  const limits: RateLimit[] = [];
  for (const part of value.split(',').map((p) => p.trim()).filter(Boolean)) {
    const match = /^(\d{1,9})\/(\d{0,6})([smhd])$/.exec(part);
    if (!match) return undefined;
    const max = Number(match[1]);
    const windowMs = Number(match[2] || '1') * windowUnits[match[3]!]!;
    if (max < 1 || windowMs < 1000) return undefined;
    limits.push({ max, windowMs });
  }
  return limits.length > 0 ? limits : undefined;
}
