import { sql } from 'kysely';
import type { Database } from './database.js';

/** Spells "RETN": the advisory lock only one scheduler's retention pass holds at a time. */
export const RETENTION_LOCK_KEY = 0x5245544e;

export interface PruneOptions {
  olderThanDays: number;
  /** Runs deleted per statement (their node_runs and run_events go with them by cascade). */
  batchSize?: number;
  /** Bounds one pass; the next pass continues. */
  maxBatches?: number;
}

export interface PruneResult {
  /** False when another process holds the lock: it is pruning, this one did nothing. */
  locked: boolean;
  deleted: number;
  batches: number;
}

/**
 * Deletes finished runs older than the retention period in small batches, each its own
 * statement (short locks, no giant transaction), under a session advisory lock held on one
 * connection: concurrent schedulers take turns, and a crashed holder's lock dies with it.
 */
export async function pruneFinishedRuns(db: Database, opts: PruneOptions): Promise<PruneResult> {
  const batchSize = opts.batchSize ?? 500;
  const maxBatches = opts.maxBatches ?? 200;
  return db.connection().execute(async (conn) => {
    const { rows } = await sql<{ locked: boolean }>`select pg_try_advisory_lock(${RETENTION_LOCK_KEY}) as locked`.execute(conn);
    if (rows[0]?.locked !== true) return { locked: false, deleted: 0, batches: 0 };
    try {
      let deleted = 0;
      let batches = 0;
      while (batches < maxBatches) {
        const res = await sql`
          delete from runs where id in (
            select id from runs
            where finished_at < now() - make_interval(days => ${opts.olderThanDays})
            order by finished_at
            limit ${batchSize}
            for update skip locked)`.execute(conn);
        const n = Number(res.numAffectedRows ?? 0);
        batches += 1;
        deleted += n;
        if (n < batchSize) break;
      }
      return { locked: true, deleted, batches };
    } finally {
      await sql`select pg_advisory_unlock(${RETENTION_LOCK_KEY})`.execute(conn);
    }
  });
}
