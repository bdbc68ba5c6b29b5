import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, wantsPrettyLogs } from '../../src/logger.ts';

const collect = () => {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { stream, text: () => chunks.join('') };
};

describe('logs', () => {
  it('are pretty for a person at a terminal in development, JSON otherwise', () => {
    expect(wantsPrettyLogs('development', true)).toBe(true);
    expect(wantsPrettyLogs('development', false)).toBe(false);
    expect(wantsPrettyLogs('development', undefined)).toBe(false);
    expect(wantsPrettyLogs('production', true)).toBe(false);
    expect(wantsPrettyLogs('test', true)).toBe(false);
  });

  it('pretty lines carry the level and message, not JSON', () => {
    const out = collect();
    createLogger('info', 'paperboy', out.stream, { pretty: true }).info({ port: 3000 }, 'Paperboy is running');
    expect(out.text()).toMatch(/INFO.*Paperboy is running/);
    expect(() => JSON.parse(out.text())).toThrow();
    const json = collect();
    createLogger('info', 'paperboy', json.stream).info('plain');
    expect(JSON.parse(json.text())).toMatchObject({ msg: 'plain', level: 30 });
  });
});
