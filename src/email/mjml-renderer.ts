import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * MJML renders in a short-lived child process (issue #10: worker peak RSS < 200 MB). Loading MJML
 * and rendering once adds ~80 MB to a process's RSS (mjml-core alone ~50 MB), and V8 never unloads
 * module code: a worker that built one edition or planned personal variants once would keep that
 * memory for the rest of its life. Here the child loads MJML, renders, and exits after an idle
 * period, so the memory goes back to the operating system.
 *
 * The switch is renderMjmlInChildProcess(): the worker role calls it at startup (main.ts) and
 * from then on every mjmlToHtml call of that process (templates.ts) goes to the child. Nothing is
 * forked before the first render. Processes that never call it (the api and all roles, CLI
 * commands, tests of rendering) render in-process, with the same function (mjml-render.ts).
 */

export interface RenderRequest {
  id: number;
  source: string;
}
export type RenderReply = { id: number; html: string } | { id: number; error: { message: string; errors?: unknown } };

/**
 * How long the child waits for more work after its last answer before it exits. Renders come in
 * bursts (an edition's build, then its variants' card catalogues while a run is planned) and
 * starting a child costs 1-2 s of CPU (tsx and MJML loading; 1.6 s measured on a busy host), so
 * the renders of one burst, seconds apart, should share a child; an idle worker should not hold
 * MJML's memory for long after.
 */
export const MJML_PROCESS_IDLE_MS = 25_000;

/**
 * V8 heap of the child. Not the worker's limit (bin/paperboy.js gives workers 128 MB, a cap meant
 * to keep a long-lived sender's RSS flat): the child lives for one burst, MJML is all it holds,
 * and a render of a whole digest peaks at a few tens of MB of heap. 256 MB leaves room for a much
 * larger document and still bounds a runaway one.
 */
const CHILD_HEAP_FLAGS = ['--max-old-space-size=256'];
/** Flags of the parent the child must not take: heap sizes (its own above) and the inspector (port in use). */
const NOT_INHERITED = /^--(max-old-space-size|max-semi-space-size|inspect|inspect-brk|inspect-port|debug-port)(=|$)/;

const entry = fileURLToPath(new URL('./mjml-process.ts', import.meta.url));

/**
 * The child's node flags: the parent's (its loader, conditions) without heap or inspector flags,
 * plus tsx's loader when the parent registered it through its API (bin/paperboy.js does) rather
 * than a flag. The entry is TypeScript: there is no build, the Docker image runs the sources.
 */
export function childNodeArguments(parent: { execArgv: readonly string[]; nodeOptions: string | undefined }): { execArgv: string[]; nodeOptions: string } {
  const execArgv: string[] = [];
  for (let i = 0; i < parent.execArgv.length; i++) {
    const flag = parent.execArgv[i]!;
    if (NOT_INHERITED.test(flag)) {
      // A value given as the next argument goes with its flag.
      if (!flag.includes('=') && /^--(max-old-space-size|max-semi-space-size|inspect-port|debug-port)$/.test(flag)) i++;
      continue;
    }
    execArgv.push(flag);
  }
  if (!execArgv.some((flag) => flag.includes('tsx'))) execArgv.push('--import', import.meta.resolve('tsx'));
  const nodeOptions = (parent.nodeOptions ?? '')
    .split(/\s+/)
    .filter((flag) => flag !== '' && !NOT_INHERITED.test(flag))
    .join(' ');
  return { execArgv: [...execArgv, ...CHILD_HEAP_FLAGS], nodeOptions };
}

interface Waiting {
  resolve(html: string): void;
  reject(error: Error): void;
}

/** One child process and the renders sent to it. */
interface Session {
  child: ChildProcess;
  pending: Map<number, Waiting>;
}

export class MjmlProcessRenderer {
  private session: Session | undefined;
  private nextId = 1;
  private idleTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly exits = new Set<Promise<void>>();

  constructor(private readonly options: { idleMs?: number } = {}) {}

  /** The running child's pid, if one runs (bench and tests watch it). */
  get pid(): number | undefined {
    return this.session?.child.pid;
  }

  render(source: string): Promise<string> {
    if (this.closed) return Promise.reject(new Error('the MJML renderer process is closed (the process is shutting down)'));
    const session = (this.session ??= this.start());
    const id = this.nextId++;
    clearTimeout(this.idleTimer);
    // While a render is pending the channel keeps this process alive; idle, it does not.
    session.child.ref();
    session.child.channel?.ref();
    return new Promise<string>((resolve, reject) => {
      session.pending.set(id, { resolve, reject });
      session.child.send({ id, source } satisfies RenderRequest, (error) => {
        // The child is gone: its exit rejects everything pending, this request included.
        if (error) this.settle(session, id, { id, error: { message: `the MJML renderer process did not take the render: ${error.message}` } });
      });
    });
  }

  /** Ends the child (rejecting renders still pending) and waits for it to exit; later renders are refused. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.idleTimer);
    if (this.session) this.retire(this.session, 'the MJML renderer process was closed (the process is shutting down)');
    await Promise.all(this.exits);
  }

  private start(): Session {
    const { execArgv, nodeOptions } = childNodeArguments({ execArgv: process.execArgv, nodeOptions: process.env.NODE_OPTIONS });
    const child = fork(entry, [], {
      execArgv,
      env: { ...process.env, NODE_OPTIONS: nodeOptions },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const session: Session = { child, pending: new Map() };
    child.on('message', (reply: RenderReply) => this.settle(session, reply.id, reply));
    let exited!: () => void;
    const exit = new Promise<void>((resolve) => (exited = resolve));
    this.exits.add(exit);
    const ended = (why: string) => {
      if (this.session === session) this.session = undefined;
      const error = new Error(`the MJML renderer process (pid ${child.pid}) ${why} before answering; the next render starts a new one`);
      for (const waiting of session.pending.values()) waiting.reject(error);
      session.pending.clear();
    };
    child.once('exit', (code, signal) => {
      ended(signal ? `was killed by ${signal}` : `exited with code ${code}`);
      this.exits.delete(exit);
      exited();
    });
    child.once('error', (error) => {
      // Failed to start (or to be signalled): no 'exit' may follow.
      ended(`failed: ${error.message}`);
      if (child.pid === undefined) {
        this.exits.delete(exit);
        exited();
      }
    });
    return session;
  }

  private settle(session: Session, id: number, reply: RenderReply): void {
    const waiting = session.pending.get(id);
    if (!waiting) return;
    session.pending.delete(id);
    if ('html' in reply) waiting.resolve(reply.html);
    else waiting.reject(Object.assign(new Error(reply.error.message), reply.error.errors === undefined ? {} : { errors: reply.error.errors }));
    if (session.pending.size === 0 && this.session === session) this.idle(session);
  }

  private idle(session: Session): void {
    session.child.unref();
    session.child.channel?.unref();
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.session === session && session.pending.size === 0) this.retire(session, 'was retired');
    }, this.options.idleMs ?? MJML_PROCESS_IDLE_MS);
    this.idleTimer.unref();
  }

  /** Lets the child go: closing the channel makes it exit (mjml-process.ts); a child that hangs is killed. */
  private retire(session: Session, why: string): void {
    if (this.session === session) this.session = undefined;
    const { child } = session;
    for (const waiting of session.pending.values()) waiting.reject(new Error(why));
    session.pending.clear();
    if (child.exitCode !== null || child.signalCode !== null) return;
    // Held until it has exited: close() waits for that, and a process with nothing else to do
    // would otherwise end first and leave the wait unsettled.
    child.ref();
    if (child.connected) child.disconnect();
    const kill = setTimeout(() => child.kill('SIGKILL'), 5_000);
    kill.unref();
    child.once('exit', () => clearTimeout(kill));
  }
}

let shared: { renderer: MjmlProcessRenderer; users: number } | undefined;

/**
 * The switch (see the top of this file): from now on this process's mjmlToHtml renders in a
 * child process. Counted, so several services in one process (tests) share one child; the last
 * close() ends it and rendering goes back in-process.
 */
export function renderMjmlInChildProcess(options: { idleMs?: number } = {}): { renderer: MjmlProcessRenderer; close(): Promise<void> } {
  shared ??= { renderer: new MjmlProcessRenderer(options), users: 0 };
  shared.users++;
  const mine = shared;
  let closed = false;
  return {
    renderer: mine.renderer,
    async close() {
      if (closed) return;
      closed = true;
      if (--mine.users > 0) return;
      if (shared === mine) shared = undefined;
      await mine.renderer.close();
    },
  };
}

/** The child renderer mjmlToHtml uses, when the switch is on. */
export function mjmlChildRenderer(): MjmlProcessRenderer | undefined {
  return shared?.renderer;
}
