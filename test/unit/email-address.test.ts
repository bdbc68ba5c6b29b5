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

const a = (n: number, c = 'a') => c.repeat(n);

describe('normaliseEmailAddress: one bare address, whatever is pasted', () => {
  it.each([
    ['Alice@Example.COM', 'Alice@example.com'],
    [' \t bob@example.com \u00a0', 'bob@example.com'],
    ['user+news@example.com', 'user+news@example.com'],
    ['user@bücher.de', 'user@xn--bcher-kva.de'],
    ['user@Bücher.DE', 'user@xn--bcher-kva.de'],
    ['user@xn--bcher-kva.de', 'user@xn--bcher-kva.de'],
    ['user@g\u043e\u043egle.com', 'user@xn--ggle-55da.com'],
    [`${a(64)}@example.com`, `${a(64)}@example.com`],
    [`${a(64)}@${a(63, 'b')}.${a(63, 'c')}.${a(58, 'd')}.io`, `${a(64)}@${a(63, 'b')}.${a(63, 'c')}.${a(58, 'd')}.io`],
    [`x@${a(63)}.com`, `x@${a(63)}.com`],
    ["o'brien@example.ie", "o'brien@example.ie"],
  ])('accepts %j as %j', (input, stored) => {
    expect(normaliseEmailAddress(input)).toEqual({ ok: true, address: stored });
  });

  it.each([
    '', '   ', 'bob\u200b@example.com', '\ufeffbob@example.com', 'bob@example.com\u202e', 'bob\u2060@example.com',
    'victim@example.com\r\nBcc: x@evil.test', 'victim@example.com\nBcc:x@evil.test', 'a\u0000@b.com', 'a\u0085@b.com',
    'victim@example.com, attacker@evil.test', 'victim@example.com;attacker@evil.test', 'Eve <eve@example.com>', '<eve@example.com>',
    '"john doe"@example.com', '"x"@example.com', 'user@example.com (c)', '(c)user@example.com', 'user@[127.0.0.1]', 'user@[IPv6:::1]',
    'user@127.0.0.1', 'john..doe@example.com', '.john@example.com', 'john.@example.com', 'user@example', 'user@localhost',
    'user@-example.com', 'user@example-.com', 'user@exa_mple.com', 'user@example..com', 'user@.example.com',
    `${a(65)}@example.com`, `${a(64)}@${a(63, 'b')}.${a(63, 'c')}.${a(59, 'd')}.io`, `x@${a(64)}.com`,
    'A@B@c.com', '用户@example.com', 'ｕｓｅｒ@example.com', 'user＠example.com', 'user@', '@example.com', 'user',
    '<script>@example.com', 'a b@example.com', 'user@exam ple.com', 'user@example.com\u2028', a(10_000),
  ])('refuses %j', (input) => {
    expect(normaliseEmailAddress(input).ok).toBe(false);
  });
});
