/** The exit code of a process ended by a signal, as shells report it (128 + its number). */
export const signalExitCode = (signal: NodeJS.Signals) => (signal === 'SIGINT' ? 130 : 143);

/**
 * SIGTERM and Ctrl-C stop gracefully (src/app/shutdown.ts, bounded by SHUTDOWN_GRACE_SECONDS);
 * a second one exits at once, leaving rows under way to their worker's lease (reconciler.ts).
 */
export function onStopSignals(stop: (signal: NodeJS.Signals) => void, force: (signal: NodeJS.Signals) => void): () => void {
  let stopping = false;
  const handle = (signal: NodeJS.Signals) => {
    if (stopping) return force(signal);
    stopping = true;
    stop(signal);
  };
  process.on('SIGTERM', handle);
  process.on('SIGINT', handle);
  return () => {
    process.off('SIGTERM', handle);
    process.off('SIGINT', handle);
  };
}
