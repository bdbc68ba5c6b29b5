import { DomainError } from '../errors.ts';
import { PreferenceError } from '../subscribers/preferences.ts';

/** A message per form field, shown next to it (templates/partials/*-field.hbs). */
export type FieldErrors = Partial<Record<'email' | 'topics' | 'timeZone' | 'frequency' | 'deliveryHour' | 'papersPerDigest' | 'onlyMyTopics' | 'pausedUntil' | 'form', string>>;

/** The form field a refusal belongs to, or undefined when it is not about one field. */
export function fieldOfError(error: unknown): keyof FieldErrors | undefined {
  if (error instanceof PreferenceError) return error.field;
  if (error instanceof DomainError && error.code === 'invalid_email') return 'email';
  return undefined;
}

/** The topics field as the person typed it, to put back into the form (capped: it is echoed). */
export function typedTopics(topics: string | readonly string[] | undefined): string {
  return (typeof topics === 'string' ? topics : (topics ?? []).join(', ')).slice(0, 1000);
}
