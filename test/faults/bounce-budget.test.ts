import { afterEach, describe, expect, it } from 'vitest';
import { findEditionReportById } from '../../src/delivery/edition-report.ts';
import { findSendRunById } from '../../src/delivery/send-run.repository.ts';
import { reportRecovery, runCli, startFaultDrill, type FaultDrill } from '../helpers/fault-drill.ts';
import { waitFor } from '../helpers/wait-for.ts';

const SUBSCRIBERS = 1000;
const DAY = '2025-12-26';
// Every tenth reader's mailbox does not exist: a 10% hard-bounce list.
const deadMailbox = (address: string) => /^reader\d*0@/.test(address);

/**
 * Issue #11 item 4: a run whose bounce rate passes RUN_MAX_BOUNCE_RATE (after the minimum sample)
 * pauses with a reason naming the rate; `status` and the admin report show it; once the operator
 * raised the limit (a worker restarted with the new setting) `paperboy resume` finishes the run,
 * with every row final and nothing sent twice.
 */
describe('fault drill: a run pauses past its bounce budget and finishes after resume', () => {
  let drill: FaultDrill | undefined;
  afterEach(async () => {
    await drill?.stop();
    drill = undefined;
  });

  it('pauses at 10% hard bounces over a 5% budget, then finishes with the limit raised', async () => {
    drill = await startFaultDrill({
      subscribers: SUBSCRIBERS,
      // A modest shared rate, so the pause lands while most rows are still queued.
      env: { SEND_RATE: '200', RUN_MAX_BOUNCE_RATE: '0.05', RUN_BOUNCE_MIN_ATTEMPTS: '200' },
      script: { rcptReply: (address) => (deadMailbox(address) ? '550 5.1.1 The email account that you tried to reach does not exist' : undefined) },
    });
    const first = drill.startWorker();
    const run = await drill.request(DAY);
    await waitFor(async () => (await findSendRunById(drill!.testDb.db, run.id))!.status === 'paused', { what: 'run paused', timeoutMs: 60_000 });
    const paused = (await findSendRunById(drill.testDb.db, run.id))!;
    expect(paused.pause_reason).toMatch(/^bounce rate \d+\.\d% \(\d+ of \d+ attempted\) is over RUN_MAX_BOUNCE_RATE 5\.0%/);
    const [, bounced, attempted] = /\((\d+) of (\d+) attempted\)/.exec(paused.pause_reason!)!.map(Number);
    expect(attempted).toBeGreaterThanOrEqual(200);
    expect(bounced! / attempted!).toBeGreaterThan(0.05);

    // The old worker goes (gracefully: rows it holds go back to the queue); the operator raises the limit.
    await first.kill('SIGTERM');
    const report = (await findEditionReportById(drill.testDb.db, run.editionId))!;
    expect(report.status).toBe('paused');
    expect(report.bounceRate).toBeCloseTo(report.counts.bounced / (report.counts.sent + report.counts.bounced + report.counts.failed + report.counts.unknown), 4);
    expect(report.bounceRate!).toBeGreaterThan(0.05);
    expect(report.complaintRate).toBe(0);
    expect(report.counts.queued).toBeGreaterThan(0);
    // The new worker starts while the operator reads the status: a paused run's rows are not
    // claimed, so it sends nothing before the resume.
    const worker = drill.startWorker({ RUN_MAX_BOUNCE_RATE: '0.2' });
    const status = await runCli(drill.env, ['status', '--date', DAY]);
    expect(status.code, status.output).toBe(0);
    expect(status.output).toMatch(/paused — bounce rate/);
    expect(status.output).toMatch(/bounce rate \d+\.\d\d%, complaint rate 0\.00%/);

    const resumedAt = Date.now();
    const resumed = await runCli({ ...drill.env, RUN_MAX_BOUNCE_RATE: '0.2' }, ['resume', '--date', DAY]);
    expect(resumed.code, resumed.output).toBe(0);
    await drill.waitUntilFinished(run, 120_000);
    const recoveredMs = Date.now() - resumedAt;

    expect(worker.child.exitCode, worker.output()).toBeNull();
    const counts = await drill.expectSound(run);
    expect(counts).toEqual({ bounced: SUBSCRIBERS / 10, sent: SUBSCRIBERS - SUBSCRIBERS / 10 });
    expect(drill.sink.messages).toHaveLength(SUBSCRIBERS - SUBSCRIBERS / 10);
    const done = (await findEditionReportById(drill.testDb.db, run.editionId))!;
    expect(done.bounceRate).toBe(0.1);
    reportRecovery('resume after a bounce-budget pause', recoveredMs, { counts, attemptedAtPause: attempted });
  }, 240_000);
});
