import { describe, expect, it } from 'vitest';
import { normaliseEmailAddress } from '../../src/subscribers/email-address.ts';

describe('normaliseEmailAddress', () => {
  it.each([
    ['ada@example.com', 'ada@example.com'],
    ['  Ada.Lovelace@Example.COM \u00a0', 'Ada.Lovelace@example.com'],
    ['first+papers@sub.example.co.uk', 'first+papers@sub.example.co.uk'],
    ["o'brien@example.ie", "o'brien@example.ie"],
    ['user@bücher.example', 'user@xn--bcher-kva.example'],
    [`${'a'.repeat(64)}@example.com`, `${'a'.repeat(64)}@example.com`],
  ])('accepts %j as %j', (input, expected) => {
    expect(normaliseEmailAddress(input)).toEqual({ ok: true, address: expected });
  });

  it.each([
    ['', 'empty'],
    ['   ', 'empty'],
    ['victim@example.com\r\nBcc: x@evil.test', 'control_characters'],
    ['victim@example.com\nBcc:x@evil.test', 'control_characters'],
    ['a@x.com, b@y.com', 'not_a_single_address'],
    ['a@x.com;b@y.com', 'not_a_single_address'],
    ['Ada <ada@example.com>', 'not_a_single_address'],
    ['"ada"@example.com', 'not_a_single_address'],
    ['ada(comment)@example.com', 'not_a_single_address'],
    ['ada@@example.com', 'not_a_single_address'],
    ['ada', 'not_a_single_address'],
    ['@example.com', 'not_a_single_address'],
    ['ada@', 'invalid_domain'],
    ['ada@localhost', 'invalid_domain'],
    ['ada@-bad.com', 'invalid_domain'],
    ['ada@1.2.3.4', 'invalid_domain'],
    ['ada..lovelace@example.com', 'invalid_local_part'],
    ['.ada@example.com', 'invalid_local_part'],
    ['adä@example.com', 'invalid_local_part'],
    ['ada\u200b@example.com', 'control_characters'],
    ['ada@exa\u202emple.com', 'control_characters'],
    [`${'a'.repeat(65)}@example.com`, 'local_part_too_long'],
    [`a@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.${'e'.repeat(61)}.com`, 'invalid_domain'],
    ['x'.repeat(10_000), 'too_long'],
  ])('rejects %j (%s)', (input, problem) => {
    expect(normaliseEmailAddress(input)).toEqual({ ok: false, problem });
  });
});
