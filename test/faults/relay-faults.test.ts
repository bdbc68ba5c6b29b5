import { afterEach, describe, expect, it } from 'vitest';
import { startFaultDrill, reportRecovery, type FaultDrill } from '../helpers/fault-drill.ts';
import { waitFor } from '../helpers/wait-for.ts';

const SUBSCRIBERS = 300;
const subscriberOf = (messageId: string) => Number(/\.s(\d+)@/.exec(messageId)?.[1]);

/**
 * A real worker process against a relay that takes messages and then goes silent, drops the
 * line after the final dot, or drips its replies. Nothing may be received twice, every row ends
 * final, and the edition finishes on its own.
 */
describe('fault drills: a misbehaving relay', () => {
  let drill: FaultDrill | undefined;
  afterEach(async () => {
    await drill?.stop();
    drill = undefined;
  });

  it('never re-sends a message the relay took in full without answering (tarpit) or dropped after the dot', async () => {
    drill = await startFaultDrill({
      subscribers: SUBSCRIBERS,
      script: {
        // The first message to every tenth reader is swallowed, every tenth plus five dropped after the dot.
        afterDot: (m) => {
          const s = subscriberOf(m.messageId);
          return s % 10 === 0 ? 'stall' : s % 10 === 5 ? 'drop' : 'accept';
        },
      },
    });
    const started = Date.now();
    drill.startWorker();
    const edition = await drill.request('2025-12-26');
    await drill.waitUntilFinished(edition);
    const counts = await drill.expectSound(edition);
    expect(counts).toEqual({ sent: SUBSCRIBERS * 0.8, unknown: SUBSCRIBERS * 0.2 });
    // Every message went out exactly once, the silent ones included.
    expect(drill.sink.messages).toHaveLength(SUBSCRIBERS);
    const unknown = await drill.testDb.db.selectFrom('deliveries').select(['subscriber_id', 'reason', 'attempts']).where('status', '=', 'unknown').execute();
    for (const row of unknown) {
      expect(row.subscriber_id % 5).toBe(0);
      expect(row.attempts).toBe(1);
      expect(row.reason).toMatch(/may have accepted it; not re-sent/);
    }
    reportRecovery('tarpit and drop after the final dot', Date.now() - started, { counts });
  }, 180_000);

  it('finishes the edition after a relay drips its replies byte by byte, within the absolute deadlines', async () => {
    drill = await startFaultDrill({ subscribers: SUBSCRIBERS, script: { dripMs: 25 }, env: { SEND_MAX_ATTEMPTS: '20' } });
    drill.startWorker();
    const edition = await drill.request('2025-12-25');
    // No reply completes within the deadline while it drips: tries fail and wait their backoff
    // (a handshake that times out is the relay's failure and costs no attempt, only a retry).
    await waitFor(
      async () => (await drill!.testDb.db.selectFrom('deliveries').select('id').where('retries', '>=', 2).execute()).length >= 20,
      { what: 'attempts timed out by the drip', timeoutMs: 60_000, intervalMs: 100 },
    );
    const duringDrip = drill.sink.messages.length;
    const sending = await drill.testDb.db.selectFrom('deliveries').select('id').where('status', '=', 'sent').execute();
    expect(sending).toHaveLength(0);
    drill.sink.script.dripMs = 0;
    const healed = Date.now();
    await drill.waitUntilFinished(edition);
    const counts = await drill.expectSound(edition);
    expect((counts.sent ?? 0) + (counts.unknown ?? 0)).toBe(SUBSCRIBERS);
    // An unknown row is a message whose final dot went out before a deadline passed: the relay
    // has each of them once (checked above), and no more of them than it received besides the sent ones.
    expect(counts.unknown ?? 0).toBeLessThanOrEqual(drill.sink.messages.length - (counts.sent ?? 0));
    reportRecovery('dripping relay', Date.now() - healed, { counts, receivedDuringDrip: duringDrip });
  }, 180_000);
});
