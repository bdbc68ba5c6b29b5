import { afterEach, describe, expect, it } from 'vitest';
import { findSendRunByEdition } from '../../src/delivery/send-run.repository.ts';
import { findEditionByDate } from '../../src/editions/edition.repository.ts';
import { reportRecovery, runCli, startFaultDrill, type DrillRun, type FaultDrill } from '../helpers/fault-drill.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { spawnPaperboy } from '../helpers/worker-process.ts';

const SUBSCRIBERS = 300;
const subscriberOf = (messageId: string) => Number(/\.s(\d+)@/.exec(messageId)?.[1]);

/**
 * SIGTERM and Ctrl-C in the middle of a send against a slow relay (issue 8, item 21): the process
 * stops claiming, waits for the replies under way and records them, gives back what it had not
 * started, closes everything and exits 0. Only a message whose final dot went out and whose
 * reply never came may end `unknown`; a restart finishes the edition with no duplicates.
 */
describe('fault drills: graceful shutdown mid-send', () => {
  let drill: FaultDrill | undefined;
  afterEach(async () => {
    await drill?.stop();
    drill = undefined;
  });

  // Every reply dripped: a message takes a good fraction of a second, so a shutdown always
  // finds transactions under way and claimed rows waiting for a connection.
  const slow = { dripMs: 6 };
  const env = { SMTP_COMMAND_TIMEOUT_SECONDS: '10', SMTP_TRANSACTION_TIMEOUT_SECONDS: '30', SHUTDOWN_GRACE_SECONDS: '20' };

  const ledger = async (run: DrillRun) => {
    const rows = await drill!.testDb.db.selectFrom('deliveries').select(['subscriber_id', 'status', 'attempts']).where('run_id', '=', run.id).execute();
    return new Map(rows.map((r) => [r.subscriber_id, r]));
  };

  /**
   * Nothing new went to the relay after the signal: only the transactions under way finished,
   * one per pooled connection (SMTP_MAX_CONNECTIONS, 5), and at most one more per connection
   * started while the signal was on its way to a busy process. Without the stop it is the rest
   * of every batch under way (about 190 here).
   */
  const expectPromptStop = (signalled: number) => {
    expect(drill!.sink.messages.filter((m) => m.receivedAt >= signalled).length).toBeLessThanOrEqual(10);
  };

  /** After a graceful stop: what the relay took is `sent`, nothing is `sending` or `unknown`, the rest is queued untouched. */
  const expectStoppedCleanly = async (run: DrillRun) => {
    const rows = await ledger(run);
    const accepted = new Set(drill!.sink.messages.filter((m) => m.outcome === 'accept').map((m) => subscriberOf(m.messageId)));
    expect(accepted.size).toBeGreaterThan(0);
    const problems: string[] = [];
    for (const [subscriber, row] of rows) {
      if (accepted.has(subscriber) && row.status !== 'sent') problems.push(`${subscriber}: accepted by the relay but ${row.status}`);
      if (!accepted.has(subscriber) && !(row.status === 'queued' && row.attempts === 0)) problems.push(`${subscriber}: never sent but ${row.status} after ${row.attempts} attempts`);
    }
    expect(problems.slice(0, 10)).toEqual([]);
    expect([...rows.values()].filter((r) => r.status === 'queued').length).toBeGreaterThan(0);
    return rows;
  };

  it('worker: SIGTERM mid-batch exits 0 with the accepted rows sent and the rest queued; a restart finishes with no duplicates', async () => {
    drill = await startFaultDrill({ subscribers: SUBSCRIBERS, env, script: slow });
    const worker = drill.startWorker();
    const run = await drill.request('2025-12-26');
    await waitFor(() => drill!.sink.messages.length >= 10, { what: 'ten messages at the relay', timeoutMs: 60_000 });
    const signalled = Date.now();
    worker.child.kill('SIGTERM');
    const exit = await worker.exited;
    expect(exit, worker.output()).toEqual({ code: 0, signal: null });
    const stoppedMs = Date.now() - signalled;
    expectPromptStop(signalled);
    await expectStoppedCleanly(run);
    // No worker is left registered as alive: its claims would otherwise wait for a lease.
    expect(await drill.testDb.db.selectFrom('delivery_workers').select('id').execute()).toEqual([]);

    drill.sink.script.dripMs = 0;
    const restarted = Date.now();
    drill.startWorker();
    await drill.waitUntilFinished(run);
    expect(await drill.expectSound(run)).toEqual({ sent: SUBSCRIBERS });
    reportRecovery('SIGTERM mid-send, then a restart', Date.now() - restarted, { stoppedMs, acceptedBeforeStop: drill.sink.messages.length });
  }, 180_000);

  it('worker: replies that do not come within the grace period leave only the fully sent messages unknown', async () => {
    // Every message after the fifth is taken in full and never answered (a tarpit).
    let taken = 0;
    drill = await startFaultDrill({
      subscribers: SUBSCRIBERS,
      env: { ...env, SHUTDOWN_GRACE_SECONDS: '1' },
      script: { afterDot: () => (++taken > 5 ? 'stall' : 'accept') },
    });
    const worker = drill.startWorker();
    const run = await drill.request('2025-12-25');
    await waitFor(() => drill!.sink.messages.filter((m) => m.outcome === 'stall').length >= 3, { what: 'messages stalled at the relay', timeoutMs: 60_000 });
    worker.child.kill('SIGTERM');
    expect(await worker.exited, worker.output()).toEqual({ code: 0, signal: null });
    const rows = await ledger(run);
    const byOutcome = (outcome: string) => new Set(drill!.sink.messages.filter((m) => m.outcome === outcome).map((m) => subscriberOf(m.messageId)));
    const stalled = byOutcome('stall');
    const accepted = byOutcome('accept');
    for (const [subscriber, row] of rows) {
      if (stalled.has(subscriber)) expect(row.status).toBe('unknown');
      else if (accepted.has(subscriber)) expect(row.status).toBe('sent');
      else expect(row).toMatchObject({ status: 'queued', attempts: 0 });
    }

    drill.sink.script.afterDot = undefined;
    drill.startWorker();
    await drill.waitUntilFinished(run);
    const counts = await drill.expectSound(run);
    // The unknown ones were not sent again; everyone else got the digest once.
    expect(counts).toEqual({ sent: SUBSCRIBERS - stalled.size, unknown: stalled.size });
  }, 180_000);

  it('paperboy send: Ctrl-C mid-send exits 0, says how to finish, leaves nothing unknown; sending again finishes once', async () => {
    drill = await startFaultDrill({ subscribers: SUBSCRIBERS, env, script: slow });
    const day = '2025-12-24';
    const send = spawnPaperboy(drill.env, ['send', '--date', day]);
    await waitFor(() => drill!.sink.messages.length >= 10, { what: 'ten messages at the relay', timeoutMs: 60_000 });
    const signalled = Date.now();
    send.child.kill('SIGINT');
    expect(await send.exited, send.output()).toEqual({ code: 0, signal: null });
    expectPromptStop(signalled);
    expect(send.output()).toMatch(/SIGINT: stopping/);
    expect(send.output()).toContain(`Interrupted: messages not yet sent are queued again; run \`paperboy send --date ${day}\``);
    const edition = (await findEditionByDate(drill.testDb.db, 'daily', day))!;
    const run = { id: (await findSendRunByEdition(drill.testDb.db, edition.id))!.id, editionId: edition.id };
    await expectStoppedCleanly(run);

    drill.sink.script.dripMs = 0;
    const again = await runCli(drill.env, ['send', '--date', day]);
    expect(again.code, again.output).toBe(0);
    expect(await drill.expectSound(run)).toEqual({ sent: SUBSCRIBERS });
  }, 180_000);
});
