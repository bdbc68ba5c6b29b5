import { spawn } from 'node:child_process';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { findSendRunByEdition } from '../../src/delivery/send-run.repository.ts';
import { findEditionByDate } from '../../src/editions/edition.repository.ts';
import { testPostgresBase } from '../helpers/db.ts';
import { reportRecovery, startFaultDrill, type FaultDrill } from '../helpers/fault-drill.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { repoRoot } from '../helpers/worker-process.ts';

const SUBSCRIBERS = 1_000;

/** Kills every Postgres connection to the drill's database (what a failover or `pg_terminate_backend` does). */
async function terminateConnections(database: string): Promise<number> {
  const admin = new pg.Client({ connectionString: testPostgresBase });
  await admin.connect();
  try {
    const result = await admin.query<{ ok: boolean }>(
      'select pg_terminate_backend(pid) as ok from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()',
      [database],
    );
    return result.rows.filter((r) => r.ok).length;
  } finally {
    await admin.end();
  }
}

/**
 * Postgres connections dropped mid-send, three times: workers and `paperboy send` ride it out
 * (reconnect, retry what they were writing), with no supervisor to restart them.
 */
describe('fault drills: Postgres connections terminated mid-send', () => {
  let drill: FaultDrill | undefined;
  afterEach(async () => {
    await drill?.stop();
    drill = undefined;
  });

  const sentSoFar = async (d: FaultDrill) =>
    Number((await d.testDb.db.selectFrom('deliveries').select((eb) => eb.fn.countAll<number>().as('n')).where('status', '=', 'sent').executeTakeFirstOrThrow()).n);
  const retry = async <T>(work: () => Promise<T>): Promise<T> => {
    // The test's own pool loses its connections too; its reads simply go again.
    for (let attempt = 0; ; attempt++) {
      try {
        return await work();
      } catch (error) {
        if (attempt >= 20) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  };

  async function dropConnectionsWhileSending(d: FaultDrill): Promise<number> {
    let last = 0;
    for (let round = 1; round <= 3; round++) {
      const target = (SUBSCRIBERS * round) / 5;
      await waitFor(() => retry(() => sentSoFar(d)).then((n) => n >= target), { what: `${target} sent before cut ${round}`, timeoutMs: 60_000, intervalMs: 50 });
      expect(await terminateConnections(d.testDb.name)).toBeGreaterThan(0);
      last = Date.now();
    }
    return last;
  }

  it('a worker process keeps running and finishes the edition', async () => {
    drill = await startFaultDrill({ subscribers: SUBSCRIBERS, env: { SEND_RATE: '250' } });
    const worker = drill.startWorker();
    const edition = await drill.request('2025-12-26');
    const lastCut = await dropConnectionsWhileSending(drill);
    await retry(() => drill!.waitUntilFinished(edition));
    expect(worker.child.exitCode).toBeNull();
    const counts = await drill.expectSound(edition);
    // A claim whose answer was lost with its connection is swept to unknown: rare, never resent.
    expect((counts.sent ?? 0) + (counts.unknown ?? 0)).toBe(SUBSCRIBERS);
    expect(counts.unknown ?? 0).toBeLessThanOrEqual(50);
    expect(worker.output()).not.toMatch(/Unhandled|uncaught/i);
    reportRecovery('Postgres connections terminated three times (worker)', Date.now() - lastCut, { counts });
  }, 180_000);

  it('`paperboy send` rides it out and exits 0', async () => {
    drill = await startFaultDrill({ subscribers: SUBSCRIBERS, env: { SEND_RATE: '250' } });
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'send', '--date', '2025-12-25'], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...drill.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const lastCut = await dropConnectionsWhileSending(drill);
      const code = await exited;
      expect(code, output).toBe(0);
      const edition = (await retry(() => findEditionByDate(drill!.testDb.db, 'daily', '2025-12-25')))!;
      const run = (await retry(() => findSendRunByEdition(drill!.testDb.db, edition.id)))!;
      const counts = await drill.expectSound({ id: run.id, editionId: edition.id });
      expect((counts.sent ?? 0) + (counts.unknown ?? 0)).toBe(SUBSCRIBERS);
      expect(counts.unknown ?? 0).toBeLessThanOrEqual(50);
      reportRecovery('Postgres connections terminated three times (paperboy send)', Date.now() - lastCut, { counts });
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    }
  }, 180_000);
});
