/**
 * The IANA time zones a reader may choose: Node's own list (Intl.supportedValuesOf, from the ICU
 * data Node ships), so every zone offered is one Intl can compute local hours in, and nothing is
 * hand-written. ICU lists canonical names only and leaves out UTC, which is the default, so it is
 * added. Browsers may report an alias (Asia/Kolkata where ICU's canonical name is Asia/Calcutta):
 * an alias Intl resolves to a listed zone is accepted and stored under the listed name.
 */

let zones: readonly string[] | undefined;
let zoneSet: ReadonlySet<string> | undefined;

/** Every zone a reader may choose, sorted: for the form's <datalist> and for validation. */
export function timeZoneList(): readonly string[] {
  zones ??= Object.freeze(['UTC', ...Intl.supportedValuesOf('timeZone').filter((z) => z !== 'UTC')].sort());
  return zones;
}

/** Longer than any IANA name (the longest is 30 characters). */
const MAX_ZONE_LENGTH = 64;

/** The listed zone `raw` names (trimmed, any case, or an alias Intl knows), or undefined. */
export function canonicalTimeZone(raw: string): string | undefined {
  const name = raw.trim();
  if (name.length === 0 || name.length > MAX_ZONE_LENGTH || !/^[A-Za-z0-9_+\-/]+$/.test(name)) return undefined;
  zoneSet ??= new Set(timeZoneList());
  if (zoneSet.has(name)) return name;
  let resolved: string;
  try {
    resolved = new Intl.DateTimeFormat('en', { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    return undefined;
  }
  // Etc/UTC, Etc/GMT and friends resolve to UTC.
  return zoneSet.has(resolved) ? resolved : undefined;
}

export const UNKNOWN_TIME_ZONE_MESSAGE = 'Time zone: choose one from the list, such as Europe/Berlin or America/New_York.';
