/**
 * C0 controls other than tab, line feed and carriage return, and DEL: never meaningful in a
 * title, abstract, name or URL, and Postgres refuses NUL in text outright, so one such character
 * in one item of a source would otherwise fail the whole batch it arrives in.
 */
const CONTROL_CHARACTERS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g;

export const stripControlCharacters = (text: string): string => text.replace(CONTROL_CHARACTERS, '');

/** Every string in a parsed JSON value with control characters removed (keys included). */
export function cleanSourceValue(value: unknown): unknown {
  if (typeof value === 'string') return stripControlCharacters(value);
  if (Array.isArray(value)) return value.map(cleanSourceValue);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [stripControlCharacters(key), cleanSourceValue(inner)]));
  }
  return value;
}
