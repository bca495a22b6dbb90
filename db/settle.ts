import { sql } from 'kysely';
import type { Database } from './database.js';
import type { NodeHolder, NodeOutcome } from './node-runs.js';
import type { NewEvent } from './run-events.js';
import type { ErrorJson, JsonValue, RunStatus } from './types.js';

/**
 * The hot path of the run state machine: a node's result recorded and its run advanced in one
 * round trip, by conveyor_record_outcome (migrations/0006_record_outcome.sql). One statement,
 * so it is atomic on its own or inside the caller's transaction.
 */
export interface AdvancedRun {
  run_id: string;
  workflow_id: string;
  version: number;
  priority: number;
  /** Nodes now queued in Postgres: their jobs are added after commit. */
  queued: string[];
  ended: 'succeeded' | 'failed' | null;
  had_deadline: boolean;
  has_queued: boolean;
}

/** `runs[0]` is the node's own run; a child run's end appends its parent's (and so on up). */
export type RecordResult = { recorded: false } | { recorded: true; runs: AdvancedRun[] };

export async function recordNodeOutcome(
  db: Database,
  a: { runId: string; nodeId: string; holder: NodeHolder; outcome: NodeOutcome; event: NewEvent; maxOutputBytes: number },
): Promise<RecordResult> {
  const attempt = a.holder.status === 'running' ? a.holder.attempt : null;
  const child = a.holder.status === 'waiting' ? (a.holder.childRunId ?? null) : null;
  const output = a.outcome.output === undefined || a.outcome.output === null ? null : JSON.stringify(a.outcome.output);
  const error = a.outcome.error ? JSON.stringify(a.outcome.error) : null;
  const event = JSON.stringify({ type: a.event.type, data: a.event.data ?? {} });
  const { rows } = await sql<{ result: RecordResult }>`
    select conveyor_record_outcome(${a.runId}::uuid, ${a.nodeId}, ${a.holder.status}, ${attempt}::int, ${child}::uuid,
                                   ${a.outcome.status}, ${output}::jsonb, ${error}::jsonb, ${event}::jsonb, ${a.maxOutputBytes}::int) as result`.execute(db);
  return rows[0]!.result;
}

/** The run's row lock: every node state change of a run is serialised behind it. */
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

/**
 * queued|running → terminal, once (the conditional update decides), with its event; says
 * whether runs of the workflow wait in `queued`, so admission is tried only when it can matter.
 * The path of runs ended from outside (cancel, deadline); natural ends happen in the function.
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
