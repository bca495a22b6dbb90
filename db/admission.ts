import { sql } from 'kysely';
import type { Database } from './database.js';

/**
 * Admission of queued runs: the workflow's row lock serialises it per workflow, so two
 * admitters never start more runs than the slots allow. Slots are counted, never stored:
 * a run holds one exactly while its status is `running`, so nothing can leak one.
 */
export async function lockWorkflowSlots(db: Database, workflowId: string) {
  // NO KEY UPDATE: serialises admissions without blocking the inserts of new runs (their FK takes KEY SHARE).
  return db.selectFrom('workflows').select(['id', 'concurrency']).where('id', '=', workflowId).forNoKeyUpdate().executeTakeFirst();
}

export async function countRunning(db: Database, workflowId: string): Promise<number> {
  const row = await db
    .selectFrom('runs')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('workflow_id', '=', workflowId)
    .where('status', '=', 'running')
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Queued runs in the order they start: priority first (1 is highest), then FIFO. */
export async function queuedRuns(db: Database, workflowId: string, limit: number) {
  return db
    .selectFrom('runs')
    .select(['id', 'version', 'priority', 'exclusive_key'])
    .where('workflow_id', '=', workflowId)
    .where('status', '=', 'queued')
    .orderBy('priority')
    .orderBy('created_at')
    .orderBy('id')
    .limit(limit)
    .execute();
}

/** Exclusive keys among `keys` held by a running run. */
export async function heldExclusiveKeys(db: Database, keys: readonly string[]): Promise<Set<string>> {
  if (keys.length === 0) return new Set();
  const rows = await db
    .selectFrom('runs')
    .select('exclusive_key')
    .where('exclusive_key', 'in', [...keys])
    .where('status', '=', 'running')
    .execute();
  return new Set(rows.map((r) => r.exclusive_key!));
}

/** Workflows with queued runs: what the sweeper offers admission again, in case a wake-up was lost. */
export async function workflowsWithQueuedRuns(db: Database, limit: number): Promise<string[]> {
  const rows = await db.selectFrom('runs').select('workflow_id').distinct().where('status', '=', 'queued').limit(limit).execute();
  return rows.map((r) => r.workflow_id);
}

/** Running runs past their deadline by at least `graceMs`: their timer was lost or is late. */
export async function runsPastDeadline(db: Database, graceMs: number, limit: number) {
  return db
    .selectFrom('runs')
    .select(['id', 'deadline_at'])
    .where('status', '=', 'running')
    .where('deadline_at', '<', sql<Date>`now() - make_interval(secs => ${graceMs / 1000})`)
    .limit(limit)
    .execute();
}
