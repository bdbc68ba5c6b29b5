import type { FastifyRequest } from 'fastify';
import { DomainError } from '../errors.ts';

// C0 controls except tab, line feed and carriage return (which forms legitimately send), and DEL.
// Postgres refuses NUL in text and jsonb outright; the others have no business in any field here.
const CONTROL_CHARACTER = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

/** The path of the first string (key or value) that holds a control character, if any. */
function findControlCharacter(value: unknown, path: string, depth = 0): string | undefined {
  if (typeof value === 'string') return CONTROL_CHARACTER.test(value) ? path : undefined;
  if (depth > 32 || value === null || typeof value !== 'object') return undefined;
  for (const [key, inner] of Object.entries(value)) {
    const at = path ? `${path}.${key}` : key;
    if (CONTROL_CHARACTER.test(key)) return at;
    const found = findControlCharacter(inner, at, depth + 1);
    if (found) return found;
  }
  return undefined;
}

/**
 * One rule for every route, JSON and form alike: a body or query string with a control character
 * is a client error (400 naming the field), decided before any route reads it. Path parameters
 * are tokens and ids, whose own shape checks already refuse such characters.
 */
export async function refuseControlCharacters(req: FastifyRequest): Promise<void> {
  const field = findControlCharacter(req.body, '') ?? findControlCharacter(req.query, '');
  if (field !== undefined) {
    throw new DomainError('invalid_request', `${field || 'request'}: control characters are not allowed`);
  }
}
