import { clearStuck, markStuck } from '../../db/workers.js';
import type { Config } from '../config.js';
import type { EngineDeps } from '../engine/deps.js';
import { allQueueNames } from '../engine/queues.js';
import { systemStatus } from './system.js';

/**
 * The scheduler's watch over consumers: logs a warning when a worker becomes stuck (silent, or
 * beating but not taking ready jobs) and once more when it recovers, so an alert on the log line
 * catches the "healthy but not consuming" worker that /readyz cannot see. The mark lives on the
 * worker's row, so with several schedulers each change is logged once, by the one that saw it first.
 */
export function watchConsumers(deps: EngineDeps, config: Pick<Config, 'CONSUMER_STUCK_MS' | 'WORKER_HEARTBEAT_MS'>): { close(): Promise<void> } {
  const queueNames = allQueueNames(deps.registry);
  let current: Promise<void> | undefined;
  const check = async () => {
    try {
      const status = await systemStatus({ db: deps.db, queues: deps.queues, queueNames }, { stuckMs: config.CONSUMER_STUCK_MS });
      for (const s of status.stuck) {
        // Logged by whichever scheduler marks it first: one line per change, not one per scheduler.
        if (!(await markStuck(deps.db, s.id, s.reason))) continue;
        deps.log.warn({ workerId: s.id, host: s.host, pid: s.pid, reason: s.reason }, `worker consumer stuck: ${s.message}`);
      }
      // Without queue depths this view cannot tell "not consuming": it clears nothing it cannot judge.
      if (status.queueError) return;
      for (const w of await clearStuck(deps.db, status.stuck.map((s) => s.id))) {
        if (status.workers.some((live) => live.id === w.id)) deps.log.info({ workerId: w.id, host: w.host, pid: w.pid }, 'worker consumer recovered');
        else deps.log.info({ workerId: w.id }, 'stuck worker gone (stopped or silent past the report window)');
      }
    } catch (err) {
      deps.log.debug({ err: (err as Error).message }, 'consumer watch check failed');
    }
  };
  const timer = setInterval(() => {
    current ??= check().finally(() => (current = undefined));
  }, Math.max(1000, 2 * config.WORKER_HEARTBEAT_MS));
  timer.unref();
  return {
    async close() {
      clearInterval(timer);
      await current;
    },
  };
}
