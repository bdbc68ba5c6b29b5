import { PassThrough } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { MessageIdLedger, readMessageId } from '../../bench/smtp-sink.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** A message whose first chunk is 64 kB, as the socket hands a digest to the sink. */
function message(id: string): Buffer {
  const head = Buffer.from(`From: d@x.test\r\nMessage-ID: ${id}\r\nSubject: s\r\n\r\n`, 'latin1');
  return Buffer.concat([head, Buffer.alloc(64 * 1024 - head.length, 'a')]);
}

async function keptBytesPerId(ids: string[]): Promise<number> {
  const ledger = new MessageIdLedger();
  gc();
  const before = process.memoryUsage().heapUsed;
  for (const id of ids) {
    const stream = new PassThrough();
    const read = readMessageId(stream);
    stream.end(message(id));
    ledger.record((await read)!);
  }
  gc();
  const after = process.memoryUsage().heapUsed;
  expect(ledger.size).toBe(ids.length);
  return (after - before) / ids.length;
}

/** The bench sink must keep its memory flat for a million messages (issue 15). */
describe('the bench SMTP sink', () => {
  it('keeps a few bytes per digest Message-ID, not the 64 kB chunk it was read from', async () => {
    const perId = await keptBytesPerId(Array.from({ length: 2_000 }, (_, i) => `<digest.e7.s${i + 1}@papers.example.test>`));
    // A retained chunk would be 65,536 bytes per id.
    expect(perId).toBeLessThan(512);
  });

  it('copies any other Message-ID it keeps', async () => {
    const perId = await keptBytesPerId(Array.from({ length: 2_000 }, (_, i) => `<digest.other-${i}.${'x'.repeat(20)}@papers.example.test>`));
    expect(perId).toBeLessThan(512);
  });

  it('counts a repeated id as a duplicate, per edition', () => {
    const ledger = new MessageIdLedger();
    expect(ledger.record('<digest.e1.s1@x.test>')).toBe(true);
    expect(ledger.record('<digest.e2.s1@x.test>')).toBe(true);
    expect(ledger.record('<digest.e1.s1@x.test>')).toBe(false);
    expect(ledger.record('<digest.weird@x.test>')).toBe(true);
    expect(ledger.record('<digest.weird@x.test>')).toBe(false);
    expect({ size: ledger.size, duplicates: ledger.duplicates }).toEqual({ size: 3, duplicates: 2 });
  });
});
