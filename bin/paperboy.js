#!/usr/bin/env node
// Runs the TypeScript CLI through tsx's loader, so `paperboy` works from a clone without a build.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const self = fileURLToPath(import.meta.url);
const cli = path.join(path.dirname(self), '../src/cli.ts');

/**
 * The heap settings BENCHMARKS.md measured ("Worker memory"): with a capped old generation V8
 * collects early and a worker's RSS stays flat over long sends instead of growing until a major GC.
 * Workers get 128 MB; roles and commands that also render (MJML) or serve HTTP get 192 MB.
 * NODE_OPTIONS or node flags that set the heap win: then nothing is changed.
 */
function memoryFlags(command) {
  const setByUser = /--max-old-space-size|--max-semi-space-size/.test(`${process.env.NODE_OPTIONS ?? ''} ${process.execArgv.join(' ')}`);
  if (setByUser) return undefined;
  return `--max-old-space-size=${command === 'worker' ? 128 : 192} --max-semi-space-size=4`;
}

const flags = memoryFlags(process.argv[2]);
if (flags === undefined) {
  const { register } = await import('tsx/esm/api');
  register();
  process.argv[1] = cli;
  await import(cli);
} else {
  // Heap limits are fixed when V8 starts: run the command in a node started with them, passing
  // signals on (SIGTERM drains workers) and its exit code back.
  const child = spawn(process.execPath, [...process.execArgv, self, ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} ${flags}`.trim() },
  });
  // Ctrl-C on a terminal reaches both processes (one process group): pass on only what was sent
  // to this process alone, such as a supervisor's SIGTERM.
  const forward = (signal) => () => {
    if (signal === 'SIGINT' && process.stdin.isTTY) return;
    child.kill(signal);
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, forward(signal));
  child.on('exit', (code, signal) => {
    if (signal) {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    } else process.exit(code ?? 1);
  });
}
