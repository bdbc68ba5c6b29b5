import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

export const repoRoot = path.join(import.meta.dirname, '../..');

export interface WorkerProcess {
  child: ChildProcess;
  /** Resolves when the process has exited (after a kill or by itself). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** What the process wrote to stderr and stdout, for the failure message of a test. */
  output(): string;
  kill(signal: NodeJS.Signals): Promise<void>;
}

const running = new Set<WorkerProcess>();
// Belt and braces: a test file's process never exits leaving a worker of its own behind.
process.once('exit', () => {
  for (const worker of running) if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGKILL');
});

/** Kills every worker this test file started that is still running (for afterEach, pass or fail). */
export async function stopAllWorkers(): Promise<void> {
  await Promise.all([...running].map((worker) => worker.kill('SIGKILL')));
}

/**
 * `paperboy worker` as a real child process (`node --import tsx src/cli.ts worker`), configured
 * only through its environment, the way an operator runs it.
 */
export function spawnWorker(env: Record<string, string>): WorkerProcess {
  return spawnPaperboy(env, ['worker']);
}

/** `paperboy ARGS` as a real child process that a test can signal (e.g. `send` and Ctrl-C). */
export function spawnPaperboy(env: Record<string, string>, args: string[]): WorkerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-20_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(worker);
      resolve({ code, signal });
    }),
  );
  const worker: WorkerProcess = {
    child,
    exited,
    output: () => output,
    async kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
  running.add(worker);
  return worker;
}
