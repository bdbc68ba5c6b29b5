import { afterEach, describe, expect, it } from 'vitest';
import { findSendRunById } from '../../src/delivery/send-run.repository.ts';
import { reportRecovery, runCli, startFaultDrill, type FaultDrill } from '../helpers/fault-drill.ts';
import { waitFor } from '../helpers/wait-for.ts';

const SUBSCRIBERS = 1500;
const DAY = '2025-12-26';

/**
 * Issue #8 item 19: two real worker processes send an edition through a relay that rejects it for
 * policy (5.7.x) until the run pauses, then accepts. `paperboy resume` (another process) must be
 * enough: the run finishes while both workers that saw the pause keep running.
 */
describe('fault drill: pause on policy rejections, resume from another process', () => {
  let drill: FaultDrill | undefined;
  afterEach(async () => {
    await drill?.stop();
    drill = undefined;
  });

  it('finishes the edition after `paperboy resume` while the workers that paused keep running', async () => {
    drill = await startFaultDrill({
      subscribers: SUBSCRIBERS,
      // A slow shared rate keeps chunks small, so the pause leaves most rows queued.
      env: { POLICY_PAUSE_THRESHOLD: '5', SEND_RATE: '100' },
      script: { rcptReply: () => '550 5.7.26 Unauthenticated email from papers.example.test is not accepted' },
    });
    const workers = [drill.startWorker(), drill.startWorker()];
    const run = await drill.request(DAY);
    await waitFor(async () => (await findSendRunById(drill!.testDb.db, run.id))!.status === 'paused', { what: 'run paused', timeoutMs: 60_000 });
    const ledger = async () => {
      const rows = await drill!.testDb.db.selectFrom('deliveries').select(['status']).where('run_id', '=', run.id).execute();
      const counts: Record<string, number> = {};
      for (const row of rows) counts[row.status] = (counts[row.status] ?? 0) + 1;
      return counts;
    };
    // Chunks in flight when it paused settle (recorded, or handed back to the queue).
    await waitFor(async () => !(await ledger()).sending, { what: 'no row sending after the pause', timeoutMs: 30_000 });
    const paused = await ledger();
    expect(paused.queued).toBeGreaterThan(SUBSCRIBERS / 2);
    expect(paused.sent ?? 0).toBe(0);
    // The operator fixed the cause.
    drill.sink.script.rcptReply = undefined;

    const resumedAt = Date.now();
    const resumed = await runCli(drill.env, ['resume', '--date', DAY]);
    expect(resumed.code, resumed.output).toBe(0);
    expect(resumed.output).toMatch(/Edition \d+ resumed/);
    await drill.waitUntilFinished(run, 120_000);
    const recoveredMs = Date.now() - resumedAt;

    for (const worker of workers) expect(worker.child.exitCode, worker.output()).toBeNull();
    const counts = await drill.expectSound(run);
    // The rows refused before the pause stay failed (not retried); every other row was sent once.
    expect(counts).toEqual({ failed: paused.failed, sent: SUBSCRIBERS - paused.failed! });
    expect(drill.sink.messages).toHaveLength(SUBSCRIBERS - paused.failed!);
    reportRecovery('resume after a policy pause, two workers', recoveredMs, { counts, queuedAtPause: paused.queued });
  }, 240_000);
});
