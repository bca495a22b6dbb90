import { listen } from '../../db/listen.js';
import { SCHEDULE_CHANGES_CHANNEL } from '../../db/schedules.js';
import type { EngineDeps } from '../../lib/engine/deps.js';
import { reconcileSchedulers } from '../../lib/schedules/sync.js';
import { fireTick, type TickSettings } from '../../lib/schedules/tick.js';

/** The safety net's period: a change whose NOTIFY was lost is applied within this. */
export const FULL_RECONCILE_MS = 30_000;

export interface Reconciler {
  /** Resolves after the first full reconciliation (successful or logged). */
  ready: Promise<void>;
  close(): Promise<void>;
}

/**
 * Keeps BullMQ's job schedulers in line with Postgres: fully at start, every FULL_RECONCILE_MS
 * and after the change listener reconnects; one schedule at a time when the API NOTIFYs a
 * change. Passes run one after another in this process; across processes they are idempotent.
 */
export function startReconciler(deps: EngineDeps, opts: { databaseUrl: string; settings: TickSettings }): Reconciler {
  const { log } = deps;
  let chain = Promise.resolve();
  let closed = false;
  const pass = (scheduleId?: string) => {
    chain = chain.then(async () => {
      if (closed) return;
      try {
        const result = await reconcileSchedulers(deps.db, deps.queues, log, { scheduleId });
        for (const missed of result.catchUps) {
          const outcome = await fireTick(deps, { ...missed, firstDelivery: false }, opts.settings);
          log.info({ scheduleId: missed.scheduleId, scheduledFor: missed.fireTime.toISOString(), outcome }, 'catch-up tick for a scheduler that was missing from the queue');
        }
        if (result.upserted || result.removed) log.info({ ...result, catchUps: result.catchUps.length, scheduleId }, 'job schedulers reconciled');
      } catch (err) {
        log.warn({ err: (err as Error).message, scheduleId }, 'schedule reconciliation failed; the next pass retries');
      }
    });
    return chain;
  };

  // Changes made while the listener was reconnecting were not notified: catch up on all of them.
  const listener = listen({
    connectionString: opts.databaseUrl,
    applicationName: 'conveyor-schedule-listener',
    channels: [SCHEDULE_CHANGES_CHANNEL],
    log,
    onNotification: (_channel, scheduleId) => void (scheduleId && pass(scheduleId)),
    onListening: ({ reconnected }) => void (reconnected && pass()),
  });

  const ready = pass();
  const timer = setInterval(() => void pass(), FULL_RECONCILE_MS);
  timer.unref();
  return {
    ready,
    async close() {
      closed = true;
      clearInterval(timer);
      await listener.close();
      await chain;
    },
  };
}
