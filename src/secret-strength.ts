import { readFileSync } from 'node:fs';
import path from 'node:path';

/** What every refusal tells the operator to do instead. */
export const MAKE_A_SECRET = 'make one with `openssl rand -hex 32`';

/** 128 bits: what `openssl rand -hex 16` gives at the 32-character minimum. */
const MIN_BITS = 128;
const MIN_LENGTH = 32;

/**
 * Values that were once shipped or documented as examples (docker-compose.yml used the first as a
 * fallback): anyone who read the repository knows them, so they are refused whatever their shape.
 */
const DOCUMENTED_EXAMPLES = new Set(['change-me-to-64-hex-characters-from-openssl-rand-hex-32-please']);

/**
 * Words that only appear in a secret somebody typed by hand or copied from a template, matched in
 * lower or upper case (five letters or more: random base64 holds one by chance about once in 10^6).
 */
const PLACEHOLDER_WORDS = [
  'change', 'replace', 'example', 'placeholder', 'secret', 'passw', 'openssl', 'please', 'dummy', 'sample', 'default',
  'insecure', 'paperboy', 'token', 'admin', 'fixme', 'letmein', 'qwerty', 'xxxxx',
];

let commonWords: Set<string> | undefined;
function loadCommonWords(): Set<string> {
  commonWords ??= new Set(
    readFileSync(path.join(import.meta.dirname, '../data/common-words.txt'), 'utf8')
      .split('\n')
      .filter((line) => line.length >= 4 && !line.startsWith('#')),
  );
  return commonWords;
}

/** Characters of `text` (lower-cased) that lie inside common words of 4+ letters, at best. */
function charactersInWords(text: string): number {
  const words = loadCommonWords();
  const lower = text.toLowerCase();
  // best[i]: most characters of lower[0..i) covered by non-overlapping words.
  const best = new Array<number>(lower.length + 1).fill(0);
  for (let end = 1; end <= lower.length; end++) {
    best[end] = best[end - 1]!;
    for (let length = 4; length <= Math.min(14, end); length++) {
      if (words.has(lower.slice(end - length, end))) best[end] = Math.max(best[end]!, best[end - length]! + length);
    }
  }
  return best[lower.length]!;
}

/** Empirical Shannon entropy per character: near 0 for "aaaa…", about 3.5–4 for random hex. */
function shannonBitsPerChar(text: string): number {
  const counts = new Map<string, number>();
  for (const c of text) counts.set(c, (counts.get(c) ?? 0) + 1);
  let bits = 0;
  for (const n of counts.values()) bits -= (n / text.length) * Math.log2(n / text.length);
  return bits;
}

/** The bits a uniformly random string of this length over the alphabet its characters suggest would have. */
function alphabetBits(text: string): number {
  if (/^[0-9a-f]+$/.test(text) || /^[0-9A-F]+$/.test(text)) return text.length * 4;
  let size = 0;
  if (/[0-9]/.test(text)) size += 10;
  if (/[a-z]/.test(text)) size += 26;
  if (/[A-Z]/.test(text)) size += 26;
  if (/[^0-9a-zA-Z]/.test(text)) size += 33;
  return text.length * Math.log2(size);
}

function longestRun(text: string, step: number): number {
  let longest = 1;
  let run = 1;
  for (let i = 1; i < text.length; i++) {
    run = text.charCodeAt(i) - text.charCodeAt(i - 1) === step ? run + 1 : 1;
    longest = Math.max(longest, run);
  }
  return longest;
}

/** Whether some stretch of 8 characters occurs twice ("abcd1234abcd1234…"). */
function repeatsAStretch(text: string, length = 8): boolean {
  const seen = new Set<string>();
  for (let i = 0; i + length <= text.length; i++) {
    const part = text.slice(i, i + length);
    if (seen.has(part)) return true;
    seen.add(part);
  }
  return false;
}

/**
 * Why a value cannot serve as a production secret (SECRET, SECRET_PREVIOUS, ADMIN_TOKEN), or
 * undefined when it looks like the output of a random generator. Anyone who can guess the secret
 * can forge every link (ids are sequential), so the bar is "random", not "long": the checks are
 * tuned so that `openssl rand -hex 16` and longer, base64 and base64url output always pass
 * (test/unit/secret-strength.test.ts samples thousands) while hand-made values do not.
 */
export function secretWeakness(value: string): string | undefined {
  if (/\s/.test(value)) return 'contains whitespace';
  if (/[\u0000-\u001f\u007f-\u009f]/.test(value)) return 'contains control characters';
  if (value.length < MIN_LENGTH) return `shorter than ${MIN_LENGTH} characters`;
  const placeholder = (word: string) => value.includes(word) || value.includes(word.toUpperCase());
  if (DOCUMENTED_EXAMPLES.has(value) || PLACEHOLDER_WORDS.some(placeholder)) return 'is a placeholder or a documented example';
  // Eight equal characters in a row, or seven consecutive ones (abcdefg, 9876543): chance in
  // random hex below 1e-6.
  if (longestRun(value, 0) >= 8) return 'repeats a character';
  if (longestRun(value, 1) >= 7 || longestRun(value, -1) >= 7) return 'contains a run such as "abcdefg" or "1234567"';
  if (repeatsAStretch(value)) return 'repeats a pattern';
  // Random 32-character hex stays above 2.7 bits per character (200,000 samples); "0101…" has 1.
  if (shannonBitsPerChar(value) < 2.5) return 'uses too few different characters';
  if (charactersInWords(value) * 10 >= value.length * 4) return 'is made of common words';
  if (alphabetBits(value) < MIN_BITS) return `has less than ${MIN_BITS} bits of randomness for its alphabet`;
  return undefined;
}
