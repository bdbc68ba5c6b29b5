import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { childPidsOf, commandLineOf } from '../../bench/process-stats.ts';
import { renderDigest } from '../../src/editions/render-digest.ts';
import { renderMjml } from '../../src/email/mjml-render.ts';
import { childNodeArguments, MjmlProcessRenderer, renderMjmlInChildProcess } from '../../src/email/mjml-renderer.ts';
import { digestPaper } from '../helpers/digest-papers.ts';
import { startFaultDrill, type FaultDrill } from '../helpers/fault-drill.ts';
import { waitFor } from '../helpers/wait-for.ts';

/**
 * MJML in a child process (src/email/mjml-renderer.ts, issue #10): real child processes, real
 * MJML, compared with the in-process render of the same source.
 */
const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const document = (text: string) => `<mjml><mj-body><mj-section><mj-column><mj-text>${text}</mj-text></mj-column></mj-section></mj-body></mjml>`;

const digestInput = (cards: number) => ({
  digestDate: '2025-12-26',
  publicUrl: 'https://papers.example.test',
  archivePath: '/archive/2025-12-26',
  sections: [
    {
      title: 'Top papers of the day',
      papers: Array.from({ length: cards }, (_, i) =>
        digestPaper({ arxiv_id: `2501.${String(i).padStart(5, '0')}`, title: `Paper ${i} & <b>bold</b> $α$`, abstract: 'word '.repeat(120), upvoteGrowth24h: i }),
      ),
    },
  ],
});

describe('MJML renderer process', () => {
  const opened: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((r) => r.close()));
  });
  const renderer = (options: { idleMs?: number } = {}) => {
    const r = new MjmlProcessRenderer(options);
    opened.push(r);
    return r;
  };

  it('renders a real digest byte for byte as the in-process render does, through mjmlToHtml once switched on', async () => {
    const inProcess = await renderDigest(digestInput(12));
    const handle = renderMjmlInChildProcess();
    opened.push(handle);
    const inChild = await renderDigest(digestInput(12));
    // The render went to a child, not to this process's MJML.
    expect(handle.renderer.pid).toBeGreaterThan(0);
    expect(commandLineOf(handle.renderer.pid!).some((arg) => arg.endsWith('mjml-process.ts'))).toBe(true);
    expect(inChild.html).toBe(inProcess.html);
    expect(inChild.text).toBe(inProcess.text);
    await handle.close();
    // Off again: the next render is in-process, and the child is gone.
    expect(handle.renderer.pid).toBeUndefined();
  }, 60_000);

  // One child for the tests that neither kill nor close it (starting one costs seconds on a busy host).
  let shared: MjmlProcessRenderer;
  beforeAll(() => {
    shared = new MjmlProcessRenderer();
  });
  afterAll(() => shared.close());

  it("gives back MJML's strict validation error with its message", async () => {
    const invalid = document('x').replace('<mj-text>', '<mj-text colour="red">');
    const expected = await renderMjml(invalid).then(
      () => undefined,
      (error: Error) => error,
    );
    expect(expected?.message).toMatch(/Attribute colour is illegal/);
    const r = shared;
    const error = await r.render(invalid).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error).toBeInstanceOf(Error);
    expect(error!.message).toBe(expected!.message);
    expect((error as Error & { errors?: unknown[] }).errors).toHaveLength(1);
    // The child is still there and still renders.
    expect(await r.render(document('after'))).toBe(await renderMjml(document('after')));
  }, 60_000);

  it('answers concurrent renders, each with its own HTML, from one child', async () => {
    const r = shared;
    const sources = Array.from({ length: 12 }, (_, i) => document(`render number ${i}`));
    const pids = new Set<number>();
    const answers = await Promise.all(
      sources.map((source) => {
        const answer = r.render(source);
        pids.add(r.pid!);
        return answer;
      }),
    );
    expect(pids.size).toBe(1);
    for (const [i, source] of sources.entries()) expect(answers[i]).toBe(await renderMjml(source));
  }, 60_000);

  it('exits when idle, and the next render starts a new child', async () => {
    const r = renderer({ idleMs: 300 });
    await r.render(document('one'));
    const first = r.pid!;
    expect(isAlive(first)).toBe(true);
    await waitFor(() => !isAlive(first), { what: 'the idle child to exit', timeoutMs: 15_000 });
    expect(r.pid).toBeUndefined();
    expect(await r.render(document('two'))).toBe(await renderMjml(document('two')));
    expect(r.pid).not.toBe(first);
  }, 60_000);

  it('a child killed mid-render rejects that render with a clear error; the next render works', async () => {
    const r = renderer();
    await r.render(document('warm'));
    const killed = r.pid!;
    const pending = r.render(document('x '.repeat(200_000)));
    process.kill(killed, 'SIGKILL');
    await expect(pending).rejects.toThrow(`the MJML renderer process (pid ${killed}) was killed by SIGKILL before answering; the next render starts a new one`);
    expect(await r.render(document('again'))).toBe(await renderMjml(document('again')));
    expect(r.pid).not.toBe(killed);
  }, 60_000);

  it('close() ends the child and refuses later renders', async () => {
    const r = renderer();
    await r.render(document('one'));
    const pid = r.pid!;
    await r.close();
    expect(isAlive(pid)).toBe(false);
    await expect(r.render(document('two'))).rejects.toThrow(/closed/);
  }, 60_000);

  it("does not take the worker's heap cap: its own limit, the parent's NODE_OPTIONS without heap flags", async () => {
    expect(childNodeArguments({ execArgv: ['--max-old-space-size', '128', '--inspect=9229', '--conditions', 'node'], nodeOptions: '--max-old-space-size=128 --max-semi-space-size=4 --enable-source-maps' })).toEqual({
      execArgv: ['--conditions', 'node', '--import', import.meta.resolve('tsx'), '--max-old-space-size=256'],
      nodeOptions: '--enable-source-maps',
    });
    const before = process.env.NODE_OPTIONS;
    process.env.NODE_OPTIONS = '--max-old-space-size=128 --max-semi-space-size=4';
    try {
      const r = renderer();
      await r.render(document('flags'));
      const environ = readFileSync(`/proc/${r.pid}/environ`, 'utf8').split('\0');
      expect(environ).toContain('NODE_OPTIONS=');
      expect(commandLineOf(r.pid!)).toContain('--max-old-space-size=256');
    } finally {
      if (before === undefined) delete process.env.NODE_OPTIONS;
      else process.env.NODE_OPTIONS = before;
    }
  }, 60_000);
});

describe('the worker role renders in the child', () => {
  let drill: FaultDrill | undefined;
  afterEach(async () => {
    await drill?.stop();
    drill = undefined;
  });

  it('a real `paperboy worker` builds an edition through its renderer child, and SIGTERM ends both', async () => {
    drill = await startFaultDrill({ subscribers: 3 });
    const worker = drill.startWorker();
    // 08:00 UTC on the 27th: the readers (UTC, 08:00) are due the edition of the 26th, which the
    // worker builds (renders) and sends.
    await drill.queues.add('deliver-due', { at: '2025-12-27T08:00:00Z' });
    const renderer = await waitFor(() => childPidsOf(worker.child.pid!).find((pid) => commandLineOf(pid).some((arg) => arg.endsWith('mjml-process.ts'))), {
      what: 'the worker to start its MJML renderer child',
      timeoutMs: 60_000,
    }).catch((error: Error) => {
      throw new Error(`${error.message}\n${worker.output()}`);
    });
    await waitFor(() => drill!.sink.messages.length >= 3, { what: 'three digests at the relay', timeoutMs: 60_000 });
    expect(drill.sink.messages.every((m) => m.messageId.startsWith('<digest.'))).toBe(true);
    // Still there (it lingers MJML_PROCESS_IDLE_MS after its last render): the worker's stop ends it.
    expect(isAlive(renderer)).toBe(true);
    worker.child.kill('SIGTERM');
    expect(await worker.exited, worker.output()).toEqual({ code: 0, signal: null });
    await waitFor(() => !isAlive(renderer), { what: 'the renderer child to exit with its worker' });
  }, 120_000);
});
