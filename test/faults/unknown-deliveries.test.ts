import { afterEach, describe, expect, it } from 'vitest';
import { findSendRunByEdition } from '../../src/delivery/send-run.repository.ts';
import { findEditionByDate } from '../../src/editions/edition.repository.ts';
import { reportRecovery, runCli, startFaultDrill, type FaultDrill } from '../helpers/fault-drill.ts';

const SUBSCRIBERS = 60;

/**
 * `paperboy unknown`: the operator's path out of `unknown`. A tarpit leaves every sixth reader
 * unknown; the command lists them with the risk, changes nothing without --yes, and then either
 * marks them sent or re-sends exactly those (and only once).
 */
describe('fault drills: the operator decides about unknown deliveries', () => {
  let drill: FaultDrill | undefined;
  afterEach(async () => {
    await drill?.stop();
    drill = undefined;
  });

  const runOf = async (d: FaultDrill, day: string) => {
    const edition = (await findEditionByDate(d.testDb.db, 'daily', day))!;
    return (await findSendRunByEdition(d.testDb.db, edition.id))!;
  };
  const unknownRows = async (d: FaultDrill, runId: number) =>
    d.testDb.db.selectFrom('deliveries').select(['subscriber_id', 'status', 'message_id']).where('run_id', '=', runId).where('status', '=', 'unknown').execute();

  it('lists, refuses without --yes, re-sends only the unknown rows, and marks another edition sent', async () => {
    drill = await startFaultDrill({
      subscribers: SUBSCRIBERS,
      script: { afterDot: (m) => (Number(/\.s(\d+)@/.exec(m.messageId)?.[1]) % 6 === 0 ? 'stall' : 'accept') },
    });
    const env = { ...drill.env, LOG_LEVEL: 'error' };
    const first = await runCli(env, ['send', '--date', '2025-12-26']);
    expect(first.code, first.output).toBe(3); // finished with unknown deliveries
    const run = await runOf(drill, '2025-12-26');
    const unknown = await unknownRows(drill, run.id);
    expect(unknown).toHaveLength(SUBSCRIBERS / 6);

    // Both only read: run side by side.
    const [listed, refused] = await Promise.all([runCli(env, ['unknown', '--date', '2025-12-26']), runCli(env, ['unknown', '--date', '2025-12-26', '--resend'])]);
    expect(listed.code, listed.output).toBe(0);
    expect(listed.output).toContain(`${SUBSCRIBERS / 6} deliveries are unknown`);
    expect(listed.output).toContain('reader6@example.org');
    expect(listed.output).toMatch(/arrives twice/);

    expect(refused.code, refused.output).toBe(2);
    expect(refused.output).toMatch(/Nothing changed: add --yes/);
    expect(await unknownRows(drill, run.id)).toHaveLength(SUBSCRIBERS / 6);

    // The relay is fixed; the operator accepts the risk and re-sends.
    drill.sink.script.afterDot = undefined;
    const started = Date.now();
    const resent = await runCli(env, ['unknown', '--date', '2025-12-26', '--resend', '--yes']);
    expect(resent.code, resent.output).toBe(0);
    reportRecovery('unknown deliveries re-sent by the operator', Date.now() - started, { rows: unknown.length });
    const rows = await drill.testDb.db.selectFrom('deliveries').select(['subscriber_id', 'status']).where('run_id', '=', run.id).execute();
    expect(rows.every((r) => r.status === 'sent')).toBe(true);
    // Exactly the unknown ones went out a second time (the stated risk); nobody else got anything again.
    const twice = drill.sink.duplicates().map(([id]) => id).sort();
    expect(twice).toEqual(unknown.map((r) => r.message_id!).sort());
    expect(drill.sink.messages).toHaveLength(SUBSCRIBERS + unknown.length);

    // Another day: this time the relay's logs say it has them.
    drill.sink.script.afterDot = (m) => (Number(/\.s(\d+)@/.exec(m.messageId)?.[1]) % 6 === 0 ? 'stall' : 'accept');
    const second = await runCli(env, ['send', '--date', '2025-12-25']);
    expect(second.code, second.output).toBe(3);
    const other = await runOf(drill, '2025-12-25');
    const before = drill.sink.messages.length;
    const marked = await runCli(env, ['unknown', '--date', '2025-12-25', '--mark-sent', '--yes']);
    expect(marked.code, marked.output).toBe(0);
    expect(marked.output).toContain(`${SUBSCRIBERS / 6} deliveries marked sent`);
    expect(await unknownRows(drill, other.id)).toHaveLength(0);
    expect(drill.sink.messages.length).toBe(before);
  }, 420_000);
});
