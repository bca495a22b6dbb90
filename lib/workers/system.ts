import type { Database } from '../../db/database.js';
import { recentWorkers, type WorkerSighting } from '../../db/workers.js';
import type { QueueBackend } from '../queue.js';
import { queueDepths, readyJobs, type QueueDepth } from '../queue-depths.js';

/** GET /v1/system lists workers heard from within this window. */
export const SEEN_WINDOW_S = 30;
/** A silent worker stays reported as stuck this long, then it is presumed gone. */
const SILENT_REPORT_S = 15 * 60;
/** Missed beats before a worker counts as silent. */
const MISSED_BEATS = 3;

export interface StuckWorker {
  id: string;
  host: string;
  pid: number;
  reason: 'no_heartbeat' | 'not_consuming';
  message: string;
}

/**
 * The consumers that are not consuming: silent (no heartbeat for three intervals: hung, frozen,
 * partitioned), or beating with free slots but taking no job for `stuckMs` while one of their
 * queues has jobs ready (a connection that died quietly after a Redis blip). Pure.
 */
export function findStuck(workers: readonly WorkerSighting[], depths: readonly QueueDepth[] | undefined, stuckMs: number): StuckWorker[] {
  const ready = new Map((depths ?? []).map((d) => [d.name, readyJobs(d)]));
  const stuck: StuckWorker[] = [];
  for (const w of workers) {
    const base = { id: w.id, host: w.host, pid: w.pid };
    const silentAfterS = (MISSED_BEATS * w.heartbeat_ms) / 1000;
    if (w.heartbeat_age_s > silentAfterS) {
      stuck.push({ ...base, reason: 'no_heartbeat', message: `no heartbeat for ${Math.round(w.heartbeat_age_s)} s (it beats every ${w.heartbeat_ms / 1000} s): hung, frozen or cut off` });
      continue;
    }
    const idleS = w.last_job_started_age_s ?? w.started_age_s;
    if (w.in_flight >= w.concurrency || idleS * 1000 < stuckMs) continue;
    const waiting = w.queues.filter((q) => (ready.get(q) ?? 0) > 0);
    if (waiting.length === 0) continue;
    const detail = waiting.map((q) => `${q}: ${ready.get(q)} ready`).join(', ');
    stuck.push({ ...base, reason: 'not_consuming', message: `took no job for ${Math.round(idleS)} s with free slots while jobs wait (${detail}): its queue connection may be dead; restart it` });
  }
  return stuck;
}

export interface SystemStatus {
  checkedAt: string;
  workers: ReturnType<typeof presentWorker>[];
  stuck: StuckWorker[];
  queues: QueueDepth[] | null;
  /** Set when the queue backend did not answer in time: depths (and the not-consuming check) are unknown. */
  queueError: string | null;
}

const presentWorker = (w: WorkerSighting, stuck: StuckWorker | undefined) => ({
  id: w.id,
  host: w.host,
  pid: w.pid,
  queues: w.queues,
  concurrency: w.concurrency,
  inFlight: w.in_flight,
  jobsTaken: w.jobs_taken,
  startedAt: w.started_at.toISOString(),
  heartbeatAt: w.heartbeat_at.toISOString(),
  lastJobStartedAt: w.last_job_started_at?.toISOString() ?? null,
  lastJobFinishedAt: w.last_job_finished_at?.toISOString() ?? null,
  status: stuck ? ('stuck' as const) : ('ok' as const),
  problem: stuck?.message ?? null,
});

export async function systemStatus(
  deps: { db: Database; queues: QueueBackend; queueNames: readonly string[] },
  opts: { stuckMs: number },
): Promise<SystemStatus> {
  const [sightings, depths] = await Promise.all([
    recentWorkers(deps.db, SILENT_REPORT_S),
    queueDepths(deps.queues, deps.queueNames).then(
      (d) => ({ ok: true as const, d }),
      (err: Error) => ({ ok: false as const, err: err.message }),
    ),
  ]);
  const stuck = findStuck(sightings, depths.ok ? depths.d : undefined, opts.stuckMs);
  const byId = new Map(stuck.map((s) => [s.id, s]));
  return {
    checkedAt: new Date().toISOString(),
    workers: sightings.filter((w) => w.heartbeat_age_s <= SEEN_WINDOW_S).map((w) => presentWorker(w, byId.get(w.id))),
    stuck,
    queues: depths.ok ? depths.d : null,
    queueError: depths.ok ? null : depths.err,
  };
}
