/**
 * Signal handling while a child owns the terminal or a long step runs.
 *
 * - `interactive`: SIGINT is ignored here (the terminal delivers Ctrl-C to
 *   the agent; bot-bottle must stay alive to clean up afterwards); SIGTERM
 *   and SIGHUP abort the returned signal so the session ends and cleanup
 *   still runs.
 * - `abortable`: the first SIGINT/SIGTERM aborts the returned signal; a
 *   second one exits at once with 130.
 */
export function withSignals<T>(mode: 'interactive' | 'abortable', fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let count = 0;
  const onInterrupt = (): void => {
    if (mode === 'interactive') return;
    count += 1;
    if (count > 1) process.exit(130);
    process.stderr.write('\ninterrupting... (press Ctrl-C again to quit at once)\n');
    controller.abort();
  };
  const onTerminate = (): void => controller.abort();
  process.on('SIGINT', onInterrupt);
  process.on('SIGTERM', onTerminate);
  process.on('SIGHUP', onTerminate);
  return fn(controller.signal).finally(() => {
    process.off('SIGINT', onInterrupt);
    process.off('SIGTERM', onTerminate);
    process.off('SIGHUP', onTerminate);
  });
}
