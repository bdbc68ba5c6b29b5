import { domainToASCII } from 'node:url';

export type EmailAddressProblem =
  | 'empty'
  | 'too_long'
  | 'control_characters'
  | 'not_a_single_address'
  | 'local_part_too_long'
  | 'invalid_local_part'
  | 'invalid_domain';

export type EmailAddressResult = { ok: true; address: string } | { ok: false; problem: EmailAddressProblem };

// RFC 5321 §4.5.3.1: 64 octets local part, 254 for the whole path usable in MAIL/RCPT.
const MAX_LOCAL = 64;
const MAX_TOTAL = 254;
// dot-atom of RFC 5322 §3.2.3 in ASCII: no quoted strings, comments or display names.
const LOCAL_PART = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const DNS_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
// C0/C1 controls, zero-width and bidi characters, BOM: never part of a real address.
const INVISIBLE_OR_CONTROL = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]/;

/**
 * Accepts exactly one bare address (`local@domain`) and returns it normalised: surrounding
 * whitespace trimmed, the domain lower-cased and converted to punycode, the local part kept as
 * entered (it is case-sensitive in principle, and sub-addresses are the person's choice).
 */
export function normaliseEmailAddress(input: string): EmailAddressResult {
  // Only ASCII whitespace and NBSP are trimmed; a BOM or other invisible character at either end
  // is refused below rather than silently dropped.
  const trimmed = input.replace(/^[ \t\r\n\f\v\u00a0]+|[ \t\r\n\f\v\u00a0]+$/g, '');
  if (trimmed.length === 0) return { ok: false, problem: 'empty' };
  if (trimmed.length > MAX_TOTAL * 2) return { ok: false, problem: 'too_long' };
  if (INVISIBLE_OR_CONTROL.test(trimmed)) return { ok: false, problem: 'control_characters' };
  if (/[\s,;<>()"\[\]\\]/.test(trimmed)) return { ok: false, problem: 'not_a_single_address' };
  const at = trimmed.lastIndexOf('@');
  if (at <= 0 || trimmed.indexOf('@') !== at) return { ok: false, problem: 'not_a_single_address' };
  const local = trimmed.slice(0, at);
  const domainInput = trimmed.slice(at + 1);
  if (local.length > MAX_LOCAL) return { ok: false, problem: 'local_part_too_long' };
  // Non-ASCII local parts need SMTPUTF8 end to end, which we cannot promise for every relay.
  if (!LOCAL_PART.test(local)) return { ok: false, problem: 'invalid_local_part' };
  const domain = domainInput.length > 0 ? domainToASCII(domainInput.toLowerCase()) : '';
  if (!domain || domain.length > 253) return { ok: false, problem: 'invalid_domain' };
  const labels = domain.split('.');
  if (labels.length < 2 || !labels.every((label) => DNS_LABEL.test(label)) || /^\d+$/.test(labels.at(-1)!)) {
    return { ok: false, problem: 'invalid_domain' };
  }
  const address = `${local}@${domain}`;
  if (address.length > MAX_TOTAL) return { ok: false, problem: 'too_long' };
  return { ok: true, address };
}

export const emailProblemMessages: Record<EmailAddressProblem, string> = {
  empty: 'Please enter your email address.',
  too_long: 'That email address is too long.',
  control_characters: 'That email address contains characters that are not allowed.',
  not_a_single_address: 'Please enter one email address, like name@example.com.',
  local_part_too_long: 'The part before the @ is too long (64 characters at most).',
  invalid_local_part: 'The part before the @ contains characters that are not allowed.',
  invalid_domain: 'The part after the @ is not a valid domain.',
};
