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
  /** Set when a child run ended: its parent's waiting node is completed after this commits. */
  parent_run_id: string | null;
  parent_node_id: string | null;
}

/** `runs` holds the node's own run. */
export type RecordResult = { recorded: false } | { recorded: true; runs: AdvancedRun[] };

export interface NodeResult {
  runId: string;
  nodeId: string;
  holder: NodeHolder;
  outcome: NodeOutcome;
  event: NewEvent;
}

export async function recordNodeOutcome(db: Database, a: NodeResult & { maxOutputBytes: number }): Promise<RecordResult> {
  const r = resultArgs(a);
  const { rows } = await sql<{ result: RecordResult }>`
    select conveyor_record_outcome(${r.run}::uuid, ${r.node}, ${r.holder}, ${r.attempt}::int, ${r.child}::uuid,
                                   ${r.status}, ${json(r.output)}::jsonb, ${json(r.error)}::jsonb, ${JSON.stringify(r.event)}::jsonb, ${a.maxOutputBytes}::int) as result`.execute(db);
  return rows[0]!.result;
}

/**
 * Several results in one statement (one commit), recorded in the order given: the caller sorts
 * them by run id so every batch takes run locks in the same order. A result that cannot be
 * recorded fails the whole statement; the caller then records each on its own.
 */
export async function recordNodeOutcomes(db: Database, results: readonly NodeResult[], maxOutputBytes: number): Promise<RecordResult[]> {
  const items = JSON.stringify(results.map(resultArgs));
  const { rows } = await sql<{ results: RecordResult[] }>`select conveyor_record_outcomes(${items}::jsonb, ${maxOutputBytes}::int) as results`.execute(db);
  return rows[0]!.results;
}

function resultArgs(a: NodeResult) {
  return {
    run: a.runId,
    node: a.nodeId,
    holder: a.holder.status,
    attempt: a.holder.status === 'running' ? a.holder.attempt : null,
    child: a.holder.status === 'waiting' ? (a.holder.childRunId ?? null) : null,
    status: a.outcome.status,
    output: a.outcome.output ?? null,
    error: a.outcome.error ?? null,
    event: { type: a.event.type, data: a.event.data ?? {} },
  };
}

const json = (v: unknown) => (v === null || v === undefined ? null : JSON.stringify(v));

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
