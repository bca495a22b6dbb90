import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Database } from '../../db/database.js';
import { beat, markStopped, pruneWorkers } from '../../db/workers.js';
import type { Logger } from '../logger.js';
import type { JobWorker } from '../queue.js';

export interface HeartbeatOptions {
  db: Database;
  log: Logger;
  /** The BullMQ workers of this process: their `active`/`completed`/`failed` events are what "consuming" means. */
  workers: readonly JobWorker[];
  concurrency: number;
  intervalMs: number;
  /** Node executions in flight in this process (the engine's `aborts.inFlight`). */
  inFlight: () => number;
}

export interface Heartbeat {
  readonly id: string;
  /** Marks the row stopped, so a worker that drained is not reported as stuck. */
  stop(): Promise<void>;
}

/** Days a stopped or vanished worker's row is kept before the next start prunes it. */
const KEEP_ROWS_S = 24 * 3600;

/**
 * Every `intervalMs`, writes this worker's row in `workers` (Postgres, so it works on both queue
 * backends): queues, concurrency, in-flight, jobs taken and when. The beat runs on its own timer,
 * so a worker whose consumers are wedged still beats, and the jobs-taken clock tells on it.
 */
export function startHeartbeat(opts: HeartbeatOptions): Heartbeat {
  const id = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  let jobsTaken = 0;
  let lastStarted: number | undefined;
  let lastFinished: number | undefined;
  const finished = () => (lastFinished = Date.now());
  for (const w of opts.workers) {
    w.on('active', () => {
      jobsTaken++;
      lastStarted = Date.now();
    });
    w.on('completed', finished);
    w.on('failed', finished);
  }
  const agoS = (t: number | undefined) => (t === undefined ? null : (Date.now() - t) / 1000);
  let failing = false;
  const once = async () => {
    try {
      await beat(opts.db, {
        id,
        host: hostname(),
        pid: process.pid,
        queues: opts.workers.map((w) => w.name),
        concurrency: opts.concurrency,
        inFlight: opts.inFlight(),
        jobsTaken,
        heartbeatMs: opts.intervalMs,
        lastJobStartedAgoS: agoS(lastStarted),
        lastJobFinishedAgoS: agoS(lastFinished),
      });
      if (failing) opts.log.info('worker heartbeat recovered');
      failing = false;
    } catch (err) {
      if (!failing) opts.log.warn({ err: (err as Error).message }, 'worker heartbeat failed; retrying');
      failing = true;
    }
  };
  // A beat still in flight (a slow database) is not doubled: the next tick skips.
  let current: Promise<void> | undefined = pruneWorkers(opts.db, KEEP_ROWS_S).catch(() => {}).then(once).finally(() => (current = undefined));
  const timer = setInterval(() => {
    current ??= once().finally(() => (current = undefined));
  }, opts.intervalMs);
  timer.unref();
  return {
    id,
    async stop() {
      clearInterval(timer);
      await current;
      await markStopped(opts.db, id).catch((err) => opts.log.warn({ err: (err as Error).message }, 'could not mark the worker stopped'));
    },
  };
}
