import { isIsoDay } from '../dates.ts';

/** Bad arguments: `paperboy` prints the message and its usage text, and exits 2. */
export class UsageError extends Error {}

export function requireDay(value: string | undefined): string {
  if (!value) throw new UsageError('--date YYYY-MM-DD is required');
  if (!isIsoDay(value)) throw new UsageError(`--date must be a calendar day as YYYY-MM-DD, got "${value}"`);
  return value;
}
