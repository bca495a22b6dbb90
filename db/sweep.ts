import { sql } from 'kysely';
import type { Database } from './database.js';

/**
 * Nodes Postgres says should have a job: queued for a while, or running with a stale heartbeat.
 * The sweeper checks each against the queue and re-enqueues the ones the queue lost.
 */
export async function nodesDueForSweep(db: Database, olderThanMs: number, staleAfterMs: number, limit: number) {
  return db
    .selectFrom('node_runs as n')
    .innerJoin('runs as r', 'r.id', 'n.run_id')
    .select(['n.run_id', 'n.node_id', 'n.status', 'r.workflow_id', 'r.version', 'r.priority'])
    .where('r.status', '=', 'running')
    .where((eb) =>
      eb.or([
        eb.and([eb('n.status', '=', 'queued'), eb('n.queued_at', '<', sql<Date>`now() - make_interval(secs => ${olderThanMs / 1000})`)]),
        eb.and([eb('n.status', '=', 'running'), eb('n.heartbeat_at', '<', sql<Date>`now() - make_interval(secs => ${staleAfterMs / 1000})`)]),
      ]),
    )
    .orderBy('n.queued_at')
    .limit(limit)
    .execute();
}

/** A transaction-scoped advisory lock: true if this transaction is the only sweeper now. */
export async function tryAdvisoryXactLock(db: Database, key: number): Promise<boolean> {
  const { rows } = await sql<{ locked: boolean }>`select pg_try_advisory_xact_lock(${key}) as locked`.execute(db);
  return rows[0]?.locked === true;
}

/** Waiting nodes with a timer (delays, signal timeouts), soonest first: each should have a wake job. */
export async function wakingNodes(db: Database, limit: number) {
  return db
    .selectFrom('node_runs as n')
    .innerJoin('runs as r', 'r.id', 'n.run_id')
    .select(['n.run_id', 'n.node_id', 'n.wake_at'])
    .where('n.status', '=', 'waiting')
    .where('n.wake_at', 'is not', null)
    .where('r.status', '=', 'running')
    .orderBy('n.wake_at')
    .limit(limit)
    .execute();
}

/** Waiting workflow.run nodes whose child run already ended: a crash came between the child's end and completing them. */
export async function parentsOfEndedChildren(db: Database, limit: number) {
  return db
    .selectFrom('node_runs as n')
    .innerJoin('runs as r', 'r.id', 'n.run_id')
    .innerJoin('runs as c', 'c.id', 'n.child_run_id')
    .select(['n.run_id', 'n.node_id', 'n.child_run_id'])
    .where('n.status', '=', 'waiting')
    .where('r.status', '=', 'running')
    .where('c.status', 'not in', ['queued', 'running'])
    .limit(limit)
    .execute();
}
