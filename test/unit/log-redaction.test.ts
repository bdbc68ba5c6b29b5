import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, logContext, maskAddress, scrubText } from '../../src/logger.ts';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      raw.push(String(chunk));
      lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
      done();
    },
  });
  return { log: createLogger('info', 'test', stream), lines, raw };
}

describe('log redaction', () => {
  it('masks the local part of every address, in fields, nested objects, errors and the message', () => {
    const { log, raw } = capture();
    const error = Object.assign(new Error('550 5.1.1 <ada.lovelace@example.org>: no such user'), { code: 'EENVELOPE' });
    log.warn({ email: 'grace.hopper@example.com', response: '550 <alan.turing@example.net> rejected', nested: { to: ['x.y@example.io'] }, err: error }, 'bounce for katherine@example.org');
    const text = raw.join('');
    for (const local of ['grace.hopper', 'alan.turing', 'x.y@', 'ada.lovelace', 'katherine@']) expect(text).not.toContain(local);
    expect(text).toContain('g…@example.com');
    expect(text).toContain('a…@example.net');
    expect(text).toContain('EENVELOPE');
  });

  it('redacts secrets by field name and inside strings (link tokens, bearer tokens, URL credentials)', () => {
    const { log, raw } = capture();
    log.info(
      { secret: 's3cret-value-0123456789', password: 'hunter2-long', token: 'tok-123456', smtpUrl: 'smtps://user:pa55word@relay.example:465', url: '/u/abc.def.ghijklmnopqrstuvwxyz', header: 'Bearer admin-token-abcdef' },
      'connecting to smtps://mailer:topsecret@relay.example:465 for /confirm/AbCdEfGhIjKlMnOp',
    );
    const text = raw.join('');
    for (const secret of ['s3cret-value', 'hunter2', 'tok-123456', 'pa55word', 'abc.def.ghij', 'admin-token-abcdef', 'topsecret', 'AbCdEfGhIjKlMnOp']) expect(text).not.toContain(secret);
    expect(text).toContain('/u/[token]');
    expect(text).toContain('/confirm/[token]');
    expect(text).toContain('relay.example:465');
  });

  it('adds the request or job id of the surrounding context to every line', async () => {
    const { log, lines } = capture();
    await logContext.run({ jobId: 'send-batch-1-g0-w0', job: 'send-batch', queue: 'send' }, async () => {
      await Promise.resolve();
      log.info({ editionId: 1 }, 'inside a job');
      log.child({ part: 'planner' }).info('a child logger too');
    });
    logContext.run({ reqId: 'req-7' }, () => log.info('inside a request'));
    log.info('outside');
    expect(lines[0]).toMatchObject({ jobId: 'send-batch-1-g0-w0', job: 'send-batch', queue: 'send', editionId: 1 });
    expect(lines[1]).toMatchObject({ jobId: 'send-batch-1-g0-w0', part: 'planner' });
    expect(lines[2]).toMatchObject({ reqId: 'req-7' });
    expect(lines[3]).not.toHaveProperty('reqId');
    expect(lines[3]).not.toHaveProperty('jobId');
  });

  it('masks addresses but leaves text without them alone', () => {
    expect(maskAddress('bob@example.org')).toBe('b…@example.org');
    expect(scrubText('edition 2025-12-26 sent 30 messages at 12:00')).toBe('edition 2025-12-26 sent 30 messages at 12:00');
  });
});
