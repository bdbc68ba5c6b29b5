import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { startFaultDrill, type FaultDrill } from '../helpers/fault-drill.ts';

const SUBSCRIBERS = 600;
const DAY = '2025-12-26';
const SEND_RATE = 200;
// The receiving side of slow.example takes one message per this many ms and answers the rest
// "421 4.7.0 Try again later" (as Gmail does): a provider limit of 20/s, far under SEND_RATE.
const SLOW_GAP_MS = 50;

/**
 * Issue #11 item 6: a provider that answers 421 4.7.0 is slowed on its own (its group's rate drops
 * in Redis, its rows wait in the queue without failing), while another domain's messages flow at
 * the full rate through the same batches. Ordering and state are asserted; timings are printed.
 */
describe('fault drill: pacing per receiving domain', () => {
  let drill: FaultDrill | undefined;
  afterEach(async () => {
    await drill?.stop();
    drill = undefined;
  });

  it('slows only the domain that answers 421 4.7.0; the other keeps its rate; nothing fails, nothing twice', async () => {
    let lastSlowAccepted = 0;
    const refused: string[] = [];
    drill = await startFaultDrill({
      subscribers: SUBSCRIBERS,
      env: { SEND_RATE: String(SEND_RATE), DOMAIN_RECOVERY_SECONDS: '5', SEND_RETRY_DELAY_MS: '200', SEND_BATCH_SIZE: '100' },
      script: {
        rcptReply: (address) => {
          if (!address.endsWith('@slow.example')) return undefined;
          const now = Date.now();
          if (now - lastSlowAccepted < SLOW_GAP_MS) {
            refused.push(address);
            return '421 4.7.0 Try again later, closing connection';
          }
          lastSlowAccepted = now;
          return undefined;
        },
      },
    });
    // Odd readers at fast.example, even ones at slow.example: every batch holds both.
    await sql`update subscribers set email = 'reader' || id || '@' || case when id % 2 = 0 then 'slow.example' else 'fast.example' end`.execute(drill.testDb.db);
    drill.startWorker();
    const startedAt = Date.now();
    const run = await drill.request(DAY);
    await drill.waitUntilFinished(run, 180_000);

    const counts = await drill.expectSound(run);
    expect(counts).toEqual({ sent: SUBSCRIBERS });
    const fast = drill.sink.messages.filter((m) => m.to[0]!.endsWith('@fast.example'));
    const slow = drill.sink.messages.filter((m) => m.to[0]!.endsWith('@slow.example'));
    expect(fast).toHaveLength(SUBSCRIBERS / 2);
    expect(slow).toHaveLength(SUBSCRIBERS / 2);
    // The slow provider did push back, and only it was refused.
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.every((a) => a.endsWith('@slow.example'))).toBe(true);
    // Its rows waited in the queue without failing: the ledger of the slowed ones says sent, once each.
    const retried = await drill.testDb.db.selectFrom('deliveries').select(['status', 'retries']).where('run_id', '=', run.id).where('retries', '>', 0).execute();
    expect(retried.every((r) => r.status === 'sent')).toBe(true);

    // Ordering: fast.example finishes first, some of slow.example's messages come after it, and its
    // messages spread over less time. Not yet "the full rate": on a quiet host fast.example got
    // 14/s of SEND_RATE 200 here, because windows holding deferred slow rows come back later
    // (issue #11 item 6 is still open on that point).
    const span = (ms: { receivedAt: number }[]) => (ms.at(-1)!.receivedAt - ms[0]!.receivedAt) / 1000;
    const lastFastAt = fast.at(-1)!.receivedAt;
    const slowAfterFast = slow.filter((m) => m.receivedAt > lastFastAt).length;
    expect(slowAfterFast).toBeGreaterThan(0);
    expect(span(fast)).toBeLessThan(span(slow));

    // State shared by the workers: slow.example's rate was cut, fast.example's never was.
    const rateOf = async (group: string) => Number(await drill!.queues.connection.hget(`${drill!.config.queuePrefix}:pace:${group}`, 'rate'));
    expect(await rateOf('slow.example')).toBeLessThan(SEND_RATE);
    expect(await rateOf('fast.example')).toBe(SEND_RATE);

    console.log(
      `[pacing] fast.example: ${fast.length} in ${span(fast).toFixed(2)} s (${(fast.length / span(fast)).toFixed(0)}/s, SEND_RATE ${SEND_RATE}); ` +
        `slow.example: ${slow.length} in ${span(slow).toFixed(2)} s (${(slow.length / span(slow)).toFixed(1)}/s, provider limit ${1000 / SLOW_GAP_MS}/s), ` +
        `${refused.length} refusals (421 4.7.0), ${slowAfterFast} slow after the last fast; whole run ${((Date.now() - startedAt) / 1000).toFixed(1)} s`,
    );
  }, 240_000);
});
