import { sql } from 'kysely';
import type { Database } from './database.js';
import type { NodeHolder, NodeOutcome } from './node-runs.js';
import { eventColumns, type NewEvent } from './run-events.js';
import type { ErrorJson, JsonValue, NodeStatus, RunStatus } from './types.js';

/**
 * The hot path of the run state machine in as few round trips as the logic allows: a node's
 * result is recorded in two statements (lock-and-finish, then apply what the DAG rules decided),
 * a run's end in one. Each statement is a set of CTEs, so it is atomic on its own and the
 * transaction around them only keeps the run's row lock between them.
 */
export interface LockedRun {
  id: string;
  status: RunStatus;
  workflow_id: string;
  workspace_id: string;
  version: number;
  priority: number;
  parent_run_id: string | null;
  parent_node_id: string | null;
  depth: number;
  deadline_at: Date | null;
}

export interface FinishedNode {
  run: LockedRun | undefined;
  /** False when the node was not in the state the caller holds: nothing was recorded. */
  finished: boolean;
  /** Every node's status after this change. */
  statuses: Map<string, NodeStatus>;
}

/** The run's row lock: every node state change of a run is serialised behind it. */
export async function lockRunRow(db: Database, runId: string): Promise<LockedRun | undefined> {
  return db
    .selectFrom('runs')
    .select(['id', 'status', 'workflow_id', 'workspace_id', 'version', 'priority', 'parent_run_id', 'parent_node_id', 'depth', 'deadline_at'])
    .where('id', '=', runId)
    // NO KEY UPDATE: strong enough to serialise the run's changes, yet it does not block the
    // KEY SHARE locks that foreign keys take (a child run or node row referencing this run),
    // which would otherwise deadlock a parent and a child finishing at the same moment.
    .forNoKeyUpdate()
    .executeTakeFirst();
}

/** Takes the run's row lock and records the node's outcome, only from the state the caller holds. */
export async function lockAndFinishNode(db: Database, runId: string, nodeId: string, holder: NodeHolder, outcome: NodeOutcome): Promise<FinishedNode> {
  const attempt = holder.status === 'running' ? holder.attempt : null;
  const output = outcome.output === undefined || outcome.output === null ? null : JSON.stringify(outcome.output);
  const error = outcome.error ? JSON.stringify(outcome.error) : null;
  // The lock is its own statement: a statement's snapshot is taken when it starts, so reading
  // the statuses in the statement that waited for the lock would miss what the previous holder
  // committed (two branches of a fan-in finishing together would each miss the other).
  const run = await lockRunRow(db, runId);
  if (!run || run.status !== 'running') return { run, finished: false, statuses: new Map() };
  const { rows } = await sql<{ finished: boolean; statuses: [string, NodeStatus][] }>`
    with fin as (
      update node_runs n
         set status = ${outcome.status}, output = ${output}::jsonb, error = ${error}::jsonb, finished_at = now(),
             waiting_for = null, wake_at = null, wake_outcome = null
       where n.run_id = ${runId} and n.node_id = ${nodeId}
         and n.status = ${holder.status} and (${attempt}::int is null or n.attempts = ${attempt}::int)
      returning n.node_id
    )
    select exists (select 1 from fin) as finished,
           (select json_agg(json_build_array(node_id, status)) from node_runs where run_id = ${runId}) as statuses`.execute(db);
  const { finished, statuses } = rows[0]!;
  // The statement's snapshot predates its own update: patch in the node it just finished.
  const map = new Map(statuses ?? []);
  if (finished) map.set(nodeId, outcome.status);
  return { run, finished, statuses: map };
}

export interface Settlement {
  queue: readonly string[];
  skip: readonly { nodeId: string; error: ErrorJson }[];
  events: readonly NewEvent[];
}

/** pending → queued / skipped as the DAG rules decided, and their events, under the run's lock. */
export async function applySettlement(db: Database, runId: string, s: Settlement): Promise<void> {
  const e = eventColumns(s.events);
  await sql`
    with q as (
      update node_runs set status = 'queued', queued_at = now()
       where run_id = ${runId} and node_id = any(${[...s.queue]}::text[]) and status = 'pending'
      returning node_id
    ), s as (
      update node_runs n set status = 'skipped', error = x.error, finished_at = now()
        from unnest(${s.skip.map((k) => k.nodeId)}::text[], ${s.skip.map((k) => JSON.stringify(k.error))}::jsonb[]) as x(node_id, error)
       where n.run_id = ${runId} and n.node_id = x.node_id and n.status = 'pending'
      returning n.node_id
    )
    insert into run_events (run_id, type, node_id, attempt, data)
    select ${runId}, x.type, x.node_id, x.attempt, x.data
      from unnest(${e.types}::text[], ${e.nodeIds}::text[], ${e.attempts}::int[], ${e.data}::jsonb[]) with ordinality as x(type, node_id, attempt, data, ord)
     order by x.ord`.execute(db);
}

/**
 * queued|running → terminal, once (the conditional update decides), with its event; says
 * whether runs of the workflow wait in `queued`, so admission is tried only when it can matter.
 */
export async function finishRunRow(db: Database, runId: string, status: Exclude<RunStatus, 'queued' | 'running'>, output: JsonValue | null, error: ErrorJson | null) {
  const data = JSON.stringify(error ? { error } : {});
  const { rows } = await sql<{ workflow_id: string; has_queued: boolean }>`
    with done as (
      update runs
         set status = ${status}, output = ${output === null ? null : JSON.stringify(output)}::jsonb,
             error = ${error === null ? null : JSON.stringify(error)}::jsonb, finished_at = now(), waiting_for = null
       where id = ${runId} and status in ('queued', 'running')
      returning id, workflow_id
    ), event as (
      insert into run_events (run_id, type, data) select id, ${`run.${status}`}, ${data}::jsonb from done
    )
    select done.workflow_id,
           exists (select 1 from runs q where q.workflow_id = done.workflow_id and q.status = 'queued') as has_queued
      from done`.execute(db);
  return rows[0];
}
