/**
 * Media types as RFC 9110 defines them (§8.3.1, §12.5.1): `type/subtype` is case-insensitive,
 * parameters follow `;` with optional whitespace, and an Accept list weighs ranges with `q`.
 * Every content-type and Accept decision of the app goes through here, so
 * `Application/JSON; charset=UTF-8` is JSON everywhere.
 */

/** The lower-cased `type/subtype` of a Content-Type value, without parameters; '' when absent or malformed. */
export function mediaTypeOf(value: string | undefined): string {
  const essence = (value ?? '').split(';', 1)[0]!.trim().toLowerCase();
  return /^[!#$%&'*+.^_`|~0-9a-z-]+\/[!#$%&'*+.^_`|~0-9a-z-]+$/.test(essence) ? essence : '';
}

export const isJsonMediaType = (contentType: string | undefined) => {
  const type = mediaTypeOf(contentType);
  // application/json and structured-syntax types such as application/problem+json (RFC 6839).
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'));
};

export const isMultipart = (contentType: string | undefined) => mediaTypeOf(contentType).startsWith('multipart/');

/** The weight an Accept header gives to one exact media type (0 when not listed; wildcards ignored). */
export function acceptWeight(accept: string | undefined, type: string): number {
  let weight = 0;
  for (const range of (accept ?? '').split(',')) {
    const [name, ...params] = range.split(';');
    if (mediaTypeOf(name) !== type) continue;
    const q = params.map((p) => /^\s*q\s*=\s*([01](?:\.\d{0,3})?)\s*$/i.exec(p)).find(Boolean);
    weight = Math.max(weight, q ? Number(q[1]) : 1);
  }
  return weight;
}

/** A browser navigation wants a page: text/html is accepted, and preferred over JSON. */
export const prefersHtml = (accept: string | undefined) => {
  const html = acceptWeight(accept, 'text/html');
  return html > 0 && html >= acceptWeight(accept, 'application/json');
};

/** A client that asked for JSON (and not for a page at least as much). */
export const prefersJson = (accept: string | undefined) => {
  const json = acceptWeight(accept, 'application/json');
  return json > 0 && json > acceptWeight(accept, 'text/html');
};
