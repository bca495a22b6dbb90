import type { Logger } from './logger.js';

export interface Closer {
  name: string;
  close: () => Promise<unknown>;
}

/**
 * SIGTERM/SIGINT run the closers in order (stop taking work, drain, then close connections)
 * within `graceMs`. Exit 0 when all closed in time, 1 otherwise. A second signal exits at once.
 */
export function installShutdown(log: Logger, graceMs: number, closers: Closer[]): (signal?: string) => Promise<void> {
  let shuttingDown = false;
  const shutdown = async (signal = 'shutdown') => {
    if (shuttingDown) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    shuttingDown = true;
    const started = Date.now();
    log.info({ signal, graceMs }, 'shutting down');
    const deadline = setTimeout(() => {
      log.error({ graceMs }, 'shutdown grace period exceeded: exiting with work unfinished (it will be retried)');
      process.exit(1);
    }, graceMs);
    deadline.unref();
    for (const closer of closers) {
      try {
        await closer.close();
        log.debug({ step: closer.name }, 'closed');
      } catch (err) {
        log.warn({ step: closer.name, err: (err as Error).message }, 'close failed');
      }
    }
    clearTimeout(deadline);
    log.info({ ms: Date.now() - started }, 'shut down cleanly');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  return shutdown;
}
