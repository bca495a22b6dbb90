import type { Config } from '../config.js';
import type { EngineDeps } from '../engine/deps.js';
import { allQueueNames } from '../engine/queues.js';
import { systemStatus } from './system.js';

/**
 * The scheduler's watch over consumers: logs a warning when a worker becomes stuck (silent, or
 * beating but not taking ready jobs) and once more when it recovers, so an alert on the log line
 * catches the "healthy but not consuming" worker that /readyz cannot see.
 */
export function watchConsumers(deps: EngineDeps, config: Pick<Config, 'CONSUMER_STUCK_MS' | 'WORKER_HEARTBEAT_MS'>): { close(): Promise<void> } {
  const queueNames = allQueueNames(deps.registry);
  const reported = new Map<string, string>();
  let current: Promise<void> | undefined;
  const check = async () => {
    try {
      const status = await systemStatus({ db: deps.db, queues: deps.queues, queueNames }, { stuckMs: config.CONSUMER_STUCK_MS });
      const now = new Set(status.stuck.map((s) => s.id));
      for (const s of status.stuck) {
        if (reported.get(s.id) === s.reason) continue;
        reported.set(s.id, s.reason);
        deps.log.warn({ workerId: s.id, host: s.host, pid: s.pid, reason: s.reason }, `worker consumer stuck: ${s.message}`);
      }
      for (const id of [...reported.keys()]) {
        if (now.has(id)) continue;
        reported.delete(id);
        const back = status.workers.find((w) => w.id === id);
        if (back) deps.log.info({ workerId: id, host: back.host, pid: back.pid }, 'worker consumer recovered');
        else deps.log.info({ workerId: id }, 'stuck worker gone (stopped or silent past the report window)');
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
