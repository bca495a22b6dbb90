import { sql } from 'kysely';
import type { Database } from './database.js';

export interface WorkerBeat {
  id: string;
  host: string;
  pid: number;
  queues: readonly string[];
  concurrency: number;
  inFlight: number;
  jobsTaken: number;
  heartbeatMs: number;
  /** Seconds since this worker last took (started) / finished a job, by its own clock; null: never. */
  lastJobStartedAgoS: number | null;
  lastJobFinishedAgoS: number | null;
}

const ago = (s: number | null) => (s === null ? null : sql<Date>`now() - make_interval(secs => ${s})`);

/** Upserts the worker's row; times are set by the database's clock, so every reader compares like with like. */
export async function beat(db: Database, w: WorkerBeat): Promise<void> {
  const row = {
    host: w.host,
    pid: w.pid,
    queues: JSON.stringify(w.queues),
    concurrency: w.concurrency,
    in_flight: w.inFlight,
    jobs_taken: w.jobsTaken,
    heartbeat_ms: w.heartbeatMs,
    heartbeat_at: sql<Date>`now()`,
    last_job_started_at: ago(w.lastJobStartedAgoS),
    last_job_finished_at: ago(w.lastJobFinishedAgoS),
  };
  await db
    .insertInto('workers')
    .values({ id: w.id, ...row })
    .onConflict((oc) => oc.column('id').doUpdateSet({ ...row, stopped_at: null }))
    .execute();
}

/** Records why a worker is stuck; true only for the caller whose update changed it, so one scheduler of several reports it. */
export async function markStuck(db: Database, id: string, reason: string): Promise<boolean> {
  const res = await db.updateTable('workers').set({ stuck_reason: reason }).where('id', '=', id).where(sql<boolean>`stuck_reason is distinct from ${reason}`).executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

/** Clears the mark of every marked worker not in `stillStuck`; returns the ones this caller cleared. */
export async function clearStuck(db: Database, stillStuck: readonly string[]): Promise<{ id: string; host: string; pid: number }[]> {
  let q = db.updateTable('workers').set({ stuck_reason: null }).where('stuck_reason', 'is not', null);
  if (stillStuck.length > 0) q = q.where('id', 'not in', [...stillStuck]);
  return q.returning(['id', 'host', 'pid']).execute();
}

export async function markStopped(db: Database, id: string): Promise<void> {
  await db.updateTable('workers').set({ stopped_at: sql<Date>`now()`, in_flight: 0 }).where('id', '=', id).execute();
}

/** Rows of workers that stopped, or went silent, long ago: history nobody reads. */
export async function pruneWorkers(db: Database, olderThanS: number): Promise<void> {
  await db.deleteFrom('workers').where('heartbeat_at', '<', sql<Date>`now() - make_interval(secs => ${olderThanS})`).execute();
}

export interface WorkerSighting {
  id: string;
  host: string;
  pid: number;
  queues: string[];
  concurrency: number;
  in_flight: number;
  jobs_taken: number;
  heartbeat_ms: number;
  started_at: Date;
  heartbeat_at: Date;
  last_job_started_at: Date | null;
  last_job_finished_at: Date | null;
  /** Ages in seconds by the database's clock. */
  heartbeat_age_s: number;
  started_age_s: number;
  last_job_started_age_s: number | null;
}

/** Workers not stopped whose last heartbeat is within `withinS` seconds. */
export async function recentWorkers(db: Database, withinS: number): Promise<WorkerSighting[]> {
  const rows = await db
    .selectFrom('workers')
    .selectAll()
    .select([
      sql<number>`extract(epoch from now() - heartbeat_at)::float8`.as('heartbeat_age_s'),
      sql<number>`extract(epoch from now() - started_at)::float8`.as('started_age_s'),
      sql<number | null>`extract(epoch from now() - last_job_started_at)::float8`.as('last_job_started_age_s'),
    ])
    .where('stopped_at', 'is', null)
    .where('heartbeat_at', '>', sql<Date>`now() - make_interval(secs => ${withinS})`)
    .orderBy('host')
    .orderBy('started_at')
    .execute();
  return rows.map(({ stopped_at: _s, ...r }) => r);
}
