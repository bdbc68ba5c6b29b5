import { afterEach, describe, expect, it } from 'vitest';
import { startFaultDrill, reportRecovery, type FaultDrill } from '../helpers/fault-drill.ts';
import { waitFor } from '../helpers/wait-for.ts';

const SUBSCRIBERS = 300;
const RETRY_DELAY_MS = 200;
const OUTAGE_MS = 3_000;

/**
 * A relay that refuses with 421 for a few seconds (issue 8, item 15): the outage costs time, not
 * recipients. Retries of a recipient are spaced by at least the configured delay, as the relay's
 * own clock shows, and a relay that refuses connections costs no recipient any attempt.
 */
describe('fault drills: a relay outage of 421s', () => {
  let drill: FaultDrill | undefined;
  afterEach(async () => {
    await drill?.stop();
    drill = undefined;
  });

  // Three attempts would be spent long before the outage ends: only the retry window keeps the rows.
  const env = { SEND_RETRY_DELAY_MS: String(RETRY_DELAY_MS), SEND_MAX_ATTEMPTS: '3', SEND_RETRY_MAX_DELAY_MS: '1000' };

  it('retries refused recipients with backoff until the relay is back: none failed, none twice, each retry after the delay', async () => {
    drill = await startFaultDrill({ subscribers: SUBSCRIBERS, env, script: { refuseUntil: Date.now() + 600_000, refuseCode: 421, refuseAt: 'rcpt' } });
    drill.startWorker();
    const run = await drill.request('2025-12-26');
    // The outage lasts until some recipient was refused more often than SEND_MAX_ATTEMPTS allows
    // (and at least OUTAGE_MS): only the retry window can keep that row.
    const refusedOf = () => {
      const n = new Map<string, number>();
      for (const refusal of drill!.sink.refusals) n.set(refusal.to!, (n.get(refusal.to!) ?? 0) + 1);
      return Math.max(0, ...n.values());
    };
    await waitFor(() => drill!.sink.refusals.length > 0, { what: 'the first refusal', timeoutMs: 60_000 });
    await waitFor(() => refusedOf() > 3 && Date.now() - drill!.sink.refusals[0]!.at >= OUTAGE_MS, { what: 'a recipient refused 4 times', timeoutMs: 120_000 });
    drill.sink.script.refuseUntil = Date.now();
    const started = Date.now();
    await drill.waitUntilFinished(run);
    const counts = await drill.expectSound(run);
    expect(counts).toEqual({ sent: SUBSCRIBERS });

    // Every event of one recipient at the relay: its refusals, then the accepted message.
    const events = new Map<string, number[]>();
    for (const refusal of drill.sink.refusals) events.set(refusal.to!, [...(events.get(refusal.to!) ?? []), refusal.at]);
    for (const message of drill.sink.messages) for (const to of message.to) events.set(to, [...(events.get(to) ?? []), message.receivedAt]);
    const gaps: number[] = [];
    for (const times of events.values()) for (let i = 1; i < times.length; i++) gaps.push(times[i]! - times[i - 1]!);
    expect(gaps.length).toBeGreaterThan(0);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(RETRY_DELAY_MS);
    // More refusals of one recipient than SEND_MAX_ATTEMPTS: the attempts alone would have given up.
    const mostRefused = Math.max(...[...events.values()].map((times) => times.length - 1));
    expect(mostRefused).toBeGreaterThan(3);
    const rows = await drill.testDb.db.selectFrom('deliveries').select(['attempts', 'retries', 'retry_at']).where('run_id', '=', run.id).execute();
    expect(Math.max(...rows.map((r) => r.attempts))).toBe(mostRefused + 1);
    reportRecovery('421 at RCPT (a recipient refused 4 times)', Date.now() - started, { refusals: drill.sink.refusals.length, mostRefused, minGapMs: Math.min(...gaps) });
  }, 180_000);

  it('backs a batch off as a whole when the relay refuses connections, and spends no recipient attempt on it', async () => {
    drill = await startFaultDrill({ subscribers: SUBSCRIBERS, env, script: { refuseUntil: Date.now() + 60_000, refuseCode: 421, refuseAt: 'greeting' } });
    drill.startWorker();
    const run = await drill.request('2025-12-25');
    // The outage lasts OUTAGE_MS from the first refusal (the worker process takes a while to start).
    await waitFor(() => drill!.sink.refusals.length > 0, { what: 'the first refusal', timeoutMs: 60_000 });
    drill.sink.script.refuseUntil = drill.sink.refusals[0]!.at + OUTAGE_MS;
    const started = Date.now();
    await drill.waitUntilFinished(run);
    const counts = await drill.expectSound(run);
    expect(counts).toEqual({ sent: SUBSCRIBERS });
    const rows = await drill.testDb.db.selectFrom('deliveries').select(['attempts', 'retries']).where('run_id', '=', run.id).execute();
    // Each row was tried once, when the relay took it: the refusals were the relay's, not theirs.
    expect(rows.every((r) => r.attempts === 1)).toBe(true);
    expect(rows.some((r) => r.retries > 0)).toBe(true);
    // The batch waited as a whole: fewer refused connections than recipients, where trying each
    // row in turn would cost every recipient several.
    expect(drill.sink.refusals.length).toBeGreaterThan(0);
    expect(drill.sink.refusals.length).toBeLessThan(SUBSCRIBERS / 3);
    reportRecovery('421 greeting for 3 s', Date.now() - started, { refusals: drill.sink.refusals.length });
  }, 180_000);
});
