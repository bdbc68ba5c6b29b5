import nodemailer from 'nodemailer';
import { describe, expect, it } from 'vitest';
import { buildDigestMessage, digestMessageId, prepareEdition } from '../../src/delivery/digest-message.ts';
import { assembleDigestParts, compileDigestMime } from '../../src/delivery/digest-mime.ts';
import { classifySmtpError, parseEnhancedStatusCode } from '../../src/delivery/smtp-errors.ts';

const context = { publicUrl: 'https://papers.example.test', mailFrom: { name: 'Paperboy', address: 'digest@papers.example.test' }, listId: 'digest.papers.example.test' };
const stored = { id: 7, subject: 'Trending papers', html_template: '<a href="%%UNSUBSCRIBE_URL%%">Unsubscribe</a>', text_template: 'Unsubscribe: %%UNSUBSCRIBE_URL%%' };
const edition = prepareEdition(stored);

const tokens = { unsubscribeToken: '16.1.abcdefghijklmnopqrstuvwx', preferencesToken: '16.1.preferencesxxxxxxxxxxxx' };

/** The path every valid stored address takes: the edition's MIME built once, spliced per person, dot-stuffed. */
function buildRawPrebuilt(email: string): string | undefined {
  const compiled = compileDigestMime(stored, context, { dotStuffed: true });
  const assembled = assembleDigestParts(compiled, {
    subscriberId: 42,
    email,
    values: { UNSUBSCRIBE_URL: `${context.publicUrl}/u/${tokens.unsubscribeToken}`, PREFERENCES_URL: `${context.publicUrl}/p/${tokens.preferencesToken}` },
  });
  return assembled && Buffer.concat(assembled.parts).toString('utf8');
}

/** The fallback, through nodemailer's MIME builder, for an address that cannot go into a header as it is. */
async function buildRawFallback(email: string): Promise<string> {
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true });
  const info = await transport.sendMail(buildDigestMessage(edition, { subscriberId: 42, email, ...tokens }, context));
  return (info.message as Buffer).toString('utf8');
}

const headerValues = (raw: string, name: string) =>
  raw
    .split(/\r?\n\r?\n/)[0]!
    .replace(/\r?\n[ \t]+/g, ' ')
    .split(/\r?\n/)
    .filter((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`))
    .map((l) => l.slice(name.length + 1).trim());

describe.each([
  ['the pre-built MIME (every valid address)', async (email: string) => buildRawPrebuilt(email)!],
  ['the nodemailer fallback', buildRawFallback],
])('digest message through %s', (_path, buildRaw) => {
  it('carries exactly one correct List-Unsubscribe and List-Unsubscribe-Post, List-Id and a deterministic Message-ID', async () => {
    const raw = await buildRaw('reader@example.com');
    expect(headerValues(raw, 'List-Unsubscribe')).toEqual(['<https://papers.example.test/u/16.1.abcdefghijklmnopqrstuvwx>']);
    expect(headerValues(raw, 'List-Unsubscribe-Post')).toEqual(['List-Unsubscribe=One-Click']);
    expect(headerValues(raw, 'List-Id')).toEqual(['"Paperboy daily digest" <digest.papers.example.test>']);
    expect(headerValues(raw, 'Message-ID')).toEqual(['<digest.e7.s42@papers.example.test>']);
    expect(headerValues(raw, 'To')).toEqual(['reader@example.com']);
    expect(digestMessageId(7, 42, context.mailFrom)).toBe('<digest.e7.s42@papers.example.test>');
    // Once in the header, once in each body part.
    expect(raw.split('https://papers.example.test/u/16.1.abcdefghijklmnopqrstuvwx').length - 1).toBe(3);
  });
});

describe('digest message addresses', () => {
  it('sends a valid address through the pre-built MIME, and never lets an address add recipients or headers', async () => {
    expect(buildRawPrebuilt('reader@example.com')).toBeDefined();
    // An address that cannot go into a header as it is never takes the pre-built path...
    expect(buildRawPrebuilt('victim@example.com\r\nBcc: x@evil.test')).toBeUndefined();
    // ...and the fallback encodes it instead of obeying it.
    const raw = await buildRawFallback('victim@example.com\r\nBcc: x@evil.test');
    expect(headerValues(raw, 'Bcc')).toEqual([]);
    expect(raw).not.toMatch(/^Bcc:/im);
  });
});

describe('SMTP failure classification', () => {
  const err = (responseCode: number | undefined, response: string) => Object.assign(new Error(response), { responseCode, response });
  it.each([
    [err(550, '550 5.1.1 <x@example.com>: Recipient address rejected: User unknown'), 'hard_bounce'],
    [err(550, '550 5.1.2 Host unknown'), 'hard_bounce'],
    [err(550, '550 5.7.26 Unauthenticated email is not accepted'), 'policy'],
    [err(550, '550 5.7.1 Message rejected as spam'), 'policy'],
    [err(556, '556 5.1.10 Recipient address has null MX'), 'hard_bounce'],
    [err(550, '550-5.1.1 The email account that you tried to reach does not exist'), 'hard_bounce'],
    [err(550, '550 5.2.1 The email account that you tried to reach is inactive'), 'hard_bounce'],
    [err(552, '552 5.2.2 Mailbox full'), 'soft_bounce'],
    [err(421, '421 4.7.28 Unusual rate of unsolicited mail'), 'transient'],
    [Object.assign(new Error('Invalid login'), { code: 'EAUTH', responseCode: 535, response: '535 5.7.8 Authentication failed' }), 'policy'],
    [err(421, '421 4.7.0 Try again later'), 'transient'],
    [err(451, '451 4.3.0 Temporary failure'), 'transient'],
    [err(452, '452 4.2.2 Over quota'), 'transient'],
    [err(undefined, 'Connection closed unexpectedly'), 'transient'],
    [err(550, '550 No such user here'), 'hard_bounce'],
    [err(554, '554 Transaction failed'), 'permanent'],
  ])('%s → %s', (error, kind) => {
    expect(classifySmtpError(error).kind).toBe(kind);
  });
  it('reads the enhanced status code from the reply text', () => {
    expect(parseEnhancedStatusCode('550 5.1.1 User unknown')).toBe('5.1.1');
    expect(parseEnhancedStatusCode('250 OK')).toBeUndefined();
    // Digits later in the text are not a status code.
    expect(parseEnhancedStatusCode('554 rejected, see 1.2.3.4 blocklist')).toBeUndefined();
    expect(classifySmtpError(err(452, '452 4.2.2 Mailbox full')).softIfFinal).toBe(true);
    expect(classifySmtpError(err(451, '451 4.3.0 Try later')).softIfFinal).toBe(false);
  });
});
