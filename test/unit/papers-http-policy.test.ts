import { describe, expect, it } from 'vitest';
import { backoffDelayMs, serverRequestedDelayMs } from '../../src/papers/sources/http.ts';

const now = Date.parse('2025-12-26T12:00:00Z');
const wait = (headers: Record<string, string>) => serverRequestedDelayMs(new Headers(headers), now);

describe('serverRequestedDelayMs', () => {
  it('reads Retry-After as seconds or as an HTTP date', () => {
    expect(wait({ 'retry-after': '120' })).toBe(120_000);
    expect(wait({ 'retry-after': 'Fri, 26 Dec 2025 12:00:45 GMT' })).toBe(45_000);
    expect(wait({ 'retry-after': 'Fri, 26 Dec 2025 11:00:00 GMT' })).toBe(0);
  });

  it('reads the RateLimit header in its current and older draft forms, taking the latest reset', () => {
    expect(wait({ ratelimit: '"api";r=0;t=55' })).toBe(55_000);
    expect(wait({ ratelimit: 'limit=100, remaining=0, reset=30' })).toBe(30_000);
    expect(wait({ ratelimit: '"burst";r=0;t=5, "daily";r=0;t=600' })).toBe(600_000);
  });

  it('reads RateLimit-Reset / X-RateLimit-Reset as seconds or as an epoch time', () => {
    expect(wait({ 'ratelimit-reset': '12' })).toBe(12_000);
    expect(wait({ 'x-ratelimit-reset': String(now / 1000 + 90) })).toBe(90_000);
  });

  it('prefers Retry-After and says nothing when no header helps', () => {
    expect(wait({ 'retry-after': '3', ratelimit: '"api";r=0;t=55' })).toBe(3_000);
    expect(wait({ 'retry-after': 'soon' })).toBeUndefined();
    expect(wait({})).toBeUndefined();
  });
});

describe('backoffDelayMs', () => {
  it('doubles per attempt with jitter between half and all of the step, up to the cap', () => {
    expect(backoffDelayMs(1, 1_000, 30_000, () => 0)).toBe(500);
    expect(backoffDelayMs(1, 1_000, 30_000, () => 1)).toBe(1_000);
    expect(backoffDelayMs(3, 1_000, 30_000, () => 0.5)).toBe(3_000);
    expect(backoffDelayMs(10, 1_000, 30_000, () => 1)).toBe(30_000);
  });
});
