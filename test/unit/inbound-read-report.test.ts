import { describe, expect, it } from 'vitest';
import { classifySmtpError } from '../../src/delivery/smtp-errors.ts';
import { readReport } from '../../src/inbound/read-report.ts';
import { bounceFixture } from '../helpers/bounce-fixtures.ts';

const values = { rcpt: 'reader@example.org', returnPath: 'bounces+babc@bounces.example.test', messageId: 'digest.e7.s9@papers.example.test' };

describe('reading inbound reports (test/fixtures/bounces)', () => {
  it.each([
    ['gmail-hard.eml', 'hard_bounce', '5.1.1'],
    ['outlook-hard.eml', 'hard_bounce', '5.1.10'],
    ['yahoo-hard.eml', 'hard_bounce', undefined],
    ['exim-hard.eml', 'hard_bounce', '5.1.1'],
    ['postfix-soft.eml', 'soft_bounce', '5.2.2'],
  ])('%s is a failed delivery classified %s', (file, kind, code) => {
    const reading = readReport(bounceFixture(file, values));
    expect(reading.type).toBe('bounce');
    if (reading.type !== 'bounce') return;
    expect(reading.action).toBe('failed');
    expect(reading.failure?.kind).toBe(kind);
    expect(reading.failure?.enhancedCode).toBe(code);
    expect(reading.recipient).toBe(values.rcpt);
    expect(reading.original.messageId).toBe(`<${values.messageId}>`);
  });

  it('a delayed DSN is not a failure', () => {
    const reading = readReport(bounceFixture('postfix-delayed.eml', values));
    expect(reading).toMatchObject({ type: 'bounce', action: 'delayed', failure: undefined });
  });

  it('an ARF report is a complaint with the original return path', () => {
    const reading = readReport(bounceFixture('arf-abuse.eml', values));
    expect(reading).toMatchObject({ type: 'complaint', feedbackType: 'abuse' });
    expect(reading.original.returnPaths).toContain(values.returnPath);
    expect(reading.original.messageId).toBe(`<${values.messageId}>`);
    const bare = readReport(bounceFixture('arf-no-original.eml', values));
    expect(bare).toMatchObject({ type: 'complaint', feedbackType: 'abuse', original: { messageId: undefined, returnPaths: [] } });
  });

  it('ordinary mail, malformed MIME and binary junk are neither bounces nor complaints, and never throw', () => {
    expect(readReport('From: someone@example.org\r\nSubject: unsubscribe\r\n\r\nplease remove me\r\n').type).toBe('other');
    expect(readReport('Content-Type: multipart/report; report-type=delivery-status; boundary="x"\r\n\r\n--x\r\nContent-Type: message/delivery-status\r\n\r\nno groups').type).toBe('bounce');
    expect(readReport('Content-Type: multipart/mixed; boundary=\r\n\r\n--\r\n--\r\n').type).toBe('other');
    expect(readReport(Buffer.from([0, 255, 13, 10, 13, 10, 1, 2, 3])).type).toBe('other');
    const deep = `${'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'.repeat(200)}x`;
    expect(readReport(deep).type).toBe('other');
  });

  it('Yahoo\'s qmail-style reply without an enhanced code is a hard bounce for direct replies too', () => {
    expect(classifySmtpError({ responseCode: 554, response: "554 delivery error: dd This user doesn't have a yahoo.com account (x@yahoo.com) [0]" }).kind).toBe('hard_bounce');
    expect(classifySmtpError({ responseCode: 554, response: '554 Transaction failed' }).kind).toBe('permanent');
  });
});
