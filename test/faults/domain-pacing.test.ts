import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.ts';
import { startFaultDrill, type DrillRun, type FaultDrill } from '../helpers/fault-drill.ts';
import { waitFor } from '../helpers/wait-for.ts';

const SUBSCRIBERS = 1400;
// Every seventh reader is at slow.example, the others at fast.example: every batch holds both.
// Enough fast.example readers that the first second (slow.example's bucket still full, its 421s
// closing connections until its rate comes down) weighs little in fast.example's rate.
const SLOW = SUBSCRIBERS / 7;
const FAST = SUBSCRIBERS - SLOW;
const SEND_RATE = 200;
// The receiving side of slow.example takes one message per this many ms and answers the rest
// "421 4.7.0 Try again later" (as Gmail does): a provider limit of 20/s, far under SEND_RATE.
const SLOW_GAP_MS = 50;

type Received = { to: string[]; receivedAt: number };
// Messages per second over a domain's own span (first to last message received).
const span = (ms: Received[]) => (ms.at(-1)!.receivedAt - ms[0]!.receivedAt) / 1000;
const rate = (ms: Received[]) => (ms.length - 1) / span(ms);

/**
 * Issue #11 item 6: a provider that answers 421 4.7.0 is slowed on its own (its group's rate drops
 * in Redis, its rows wait in the queue without failing), while another domain's messages flow at
 * the full rate through the same batches. The full rate is measured in the same test, with the
 * same worker: fast.example's readers alone first, then with slow.example's throttled beside them.
 */
describe('fault drill: pacing per receiving domain', () => {
  let drill: FaultDrill | undefined;
  let dns: TestDnsServer | undefined;
  afterEach(async () => {
    await drill?.stop();
    await dns?.close();
    drill = undefined;
    dns = undefined;
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
    const d = drill;
    const db = d.testDb.db;
    await sql`update subscribers set email = 'reader' || id || '@' || case when id % 7 = 0 then 'slow.example' else 'fast.example' end`.execute(db);
    d.startWorker();
    const received = (run: DrillRun, domain: string) => d.sink.messages.filter((m) => m.messageId.includes(`digest.e${run.editionId}.`) && m.to[0]!.endsWith(`@${domain}`));

    // Every reader, slow.example's throttled.
    const run = await d.request('2025-12-25');
    const rateOf = async (group: string) => Number(await d.queues.connection.hget(`${d.config.queuePrefix}:pace:${group}`, 'rate'));
    await waitFor(async () => received(run, 'fast.example').length === FAST, { what: 'every fast.example message', timeoutMs: 120_000, intervalMs: 20 });
    // State shared by the workers, read while both groups are in use: slow.example's rate was cut, fast.example's never was.
    const fastRateState = await rateOf('fast.example');
    await d.waitUntilFinished(run, 180_000);

    expect(await d.expectSound(run)).toEqual({ sent: SUBSCRIBERS });
    const fast = received(run, 'fast.example');
    const slow = received(run, 'slow.example');
    expect(fast).toHaveLength(FAST);
    expect(slow).toHaveLength(SLOW);
    // The slow provider did push back, and only it was refused.
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.every((a) => a.endsWith('@slow.example'))).toBe(true);
    expect(await rateOf('slow.example')).toBeLessThan(SEND_RATE);
    expect(fastRateState).toBe(SEND_RATE);
    // Its rows waited in the queue without failing: the ledger of the slowed ones says sent, once each.
    const retried = await db.selectFrom('deliveries').select(['status', 'retries']).where('run_id', '=', run.id).where('retries', '>', 0).execute();
    expect(retried.length).toBeGreaterThan(0);
    expect(retried.every((r) => r.status === 'sent')).toBe(true);

    // The full rate: fast.example's readers alone (slow.example's are not active for this edition).
    // Measured second, on a worker warmed up by the first run: if anything, that favours it.
    await sql`update subscribers set status = 'pending' where email like '%@slow.example'`.execute(db);
    const alone = await d.request('2025-12-26');
    await d.waitUntilFinished(alone, 120_000);
    expect(await d.expectSound(alone, FAST)).toEqual({ sent: FAST });
    const fastAlone = received(alone, 'fast.example');
    expect(fastAlone).toHaveLength(FAST);

    // The point of pacing per domain: fast.example keeps (close to) the rate it gets alone, while
    // slow.example's messages go on at its provider's pace after fast.example's are all delivered.
    const ratio = rate(fast) / rate(fastAlone);
    console.log(
      `[pacing] fast.example alone: ${FAST} in ${span(fastAlone).toFixed(2)} s (${rate(fastAlone).toFixed(0)}/s, SEND_RATE ${SEND_RATE}); ` +
        `beside throttled slow.example: ${FAST} in ${span(fast).toFixed(2)} s (${rate(fast).toFixed(0)}/s, ratio ${ratio.toFixed(2)}); ` +
        `slow.example: ${SLOW} in ${span(slow).toFixed(2)} s (${rate(slow).toFixed(1)}/s, provider limit ${1000 / SLOW_GAP_MS}/s), ${refused.length} refusals (421 4.7.0)`,
    );
    expect(ratio).toBeGreaterThanOrEqual(0.8);
    expect(span(fast)).toBeLessThan(span(slow));
    expect(slow.filter((m) => m.receivedAt > fast.at(-1)!.receivedAt).length).toBeGreaterThan(0);
  }, 360_000);

  it('a worker groups two domains whose MX is Google (looked up on DNS_SERVERS) with google: a 421 from either slows both', async () => {
    dns = await startDnsServer({
      'workspace.example': { MX: [{ exchange: 'aspmx.l.google.com', priority: 1 }] },
      'workspace-too.example': { MX: [{ exchange: 'alt1.aspmx.l.google.com', priority: 5 }] },
    });
    const refusedOnce = new Set<string>();
    drill = await startFaultDrill({
      subscribers: 60,
      env: { SEND_RATE: '100', DOMAIN_RATES: 'google=100', DOMAIN_MX_GROUPING: 'true', DNS_SERVERS: `127.0.0.1:${dns.port}` },
      script: {
        // Each Workspace reader is refused once with the provider's slow-down, then accepted.
        rcptReply: (address) => {
          if (!address.includes('@workspace') || refusedOnce.has(address)) return undefined;
          refusedOnce.add(address);
          return '421 4.7.0 Try again later, closing connection';
        },
      },
    });
    const d = drill;
    await sql`update subscribers set email = 'reader' || id || '@' || case when id % 3 = 0 then 'workspace.example' when id % 3 = 1 then 'workspace-too.example' else 'other.example' end`.execute(d.testDb.db);
    d.startWorker();
    const run = await d.request('2025-12-26');
    await d.waitUntilFinished(run, 120_000);
    expect(await d.expectSound(run)).toEqual({ sent: 60 });
    expect(refusedOnce.size).toBe(40);
    const pace = async (group: string) => (await d.queues.connection.hget(`${d.config.queuePrefix}:pace:${group}`, 'rate')) ?? undefined;
    // One bucket for both domains, Google's, and it was slowed; none of their own. other.example (no MX here) is its own group.
    expect(Number(await pace('google'))).toBeLessThan(100);
    expect(await pace('workspace.example')).toBeUndefined();
    expect(await pace('workspace-too.example')).toBeUndefined();
    expect(Number(await pace('other.example'))).toBe(100);
  }, 180_000);
});
