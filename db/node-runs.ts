import { sql, type ExpressionBuilder } from 'kysely';
import type { Database } from './database.js';
import type { DB, ErrorJson, JsonValue, NodeStatus, WakeOutcome } from './types.js';

/** The node's row only while the worker holding this attempt runs it: a stale holder changes nothing. */
const heldBy = (runId: string, nodeId: string, attempt: number) => (eb: ExpressionBuilder<DB, 'node_runs'>) =>
  eb.and([eb('run_id', '=', runId), eb('node_id', '=', nodeId), eb('status', '=', 'running'), eb('attempts', '=', attempt)]);

export interface NewNodeRun { node_id: string; type: string; status: NodeStatus; output?: JsonValue }

export async function nodeStatuses(db: Database, runId: string): Promise<Map<string, NodeStatus>> {
  const rows = await db.selectFrom('node_runs').select(['node_id', 'status']).where('run_id', '=', runId).execute();
  return new Map(rows.map((r) => [r.node_id, r.status]));
}

export async function listNodeRuns(db: Database, runId: string) {
  return db.selectFrom('node_runs').selectAll().where('run_id', '=', runId).execute();
}

/**
 * Each node's params as it last ran (expressions resolved), from its latest success or failure
 * event: what the console shows beside the params as defined.
 */
export async function resolvedParams(db: Database, runId: string): Promise<Map<string, JsonValue>> {
  const { rows } = await sql<{ node_id: string; params: JsonValue }>`
    select distinct on (node_id) node_id, data->'params' as params
      from run_events
     where run_id = ${runId} and type in ('node.succeeded', 'node.failed') and data ? 'params'
     order by node_id, id desc`.execute(db);
  return new Map(rows.map((r) => [r.node_id, r.params]));
}

/** Outputs and statuses of the named nodes: what a node's expressions may reference. */
export async function nodeResults(db: Database, runId: string, nodeIds: readonly string[]) {
  if (nodeIds.length === 0) return [];
  return db
    .selectFrom('node_runs')
    .select(['node_id', 'status', 'output'])
    .where('run_id', '=', runId)
    .where('node_id', 'in', [...nodeIds])
    .execute();
}

export interface ClaimedNode {
  attempts: number;
  type: string;
  workflow_id: string;
  version: number;
  workspace_id: string;
  priority: number;
  input: JsonValue;
  depth: number;
  /** The run's trace context (W3C traceparent) when it was created with tracing on. */
  traceparent: string | null;
}

/**
 * queued → running (or a running node whose worker stopped heartbeating: it died), only while
 * the run is running. Takes the run's row lock so the run's events commit in id order.
 * Returns undefined when the claim is not ours to make: a duplicate or stale delivery.
 */
export async function claimNode(db: Database, runId: string, nodeId: string, staleAfterMs: number) {
  const result = await sql<ClaimedNode>`
    with run as (
      select id, workflow_id, version, workspace_id, priority, input, depth, traceparent
        from runs where id = ${runId} and status = 'running' for no key update
    ), claimed as (
      update node_runs n
         set status = 'running', attempts = n.attempts + 1, started_at = now(), heartbeat_at = now(), waiting_for = null
        from run
       where n.run_id = run.id and n.node_id = ${nodeId}
         and (n.status = 'queued' or (n.status = 'running' and n.heartbeat_at < now() - make_interval(secs => ${staleAfterMs / 1000})))
      returning n.attempts, n.type, run.workflow_id, run.version, run.workspace_id, run.priority, run.input, run.depth, run.traceparent
    ), event as (
      insert into run_events (run_id, type, node_id, attempt)
      select ${runId}, 'node.started', ${nodeId}, attempts from claimed
    )
    select * from claimed`.execute(db);
  return result.rows[0];
}

export interface ClaimRequest { runId: string; nodeId: string }

/**
 * claimNode for many nodes in one statement (one commit). Runs are locked in id order, as every
 * batch locks them, so two batches never deadlock. A node named twice is claimed once: the
 * answer holds one row per claimed node, keyed by run and node id.
 */
export async function claimNodes(db: Database, requests: readonly ClaimRequest[], staleAfterMs: number) {
  const result = await sql<ClaimedNode & { run_id: string; node_id: string }>`
    with req as (
      select distinct run_id, node_id from unnest(${requests.map((r) => r.runId)}::uuid[], ${requests.map((r) => r.nodeId)}::text[]) as t(run_id, node_id)
    ), run as (
      select id, workflow_id, version, workspace_id, priority, input, depth, traceparent
        from runs where id in (select run_id from req) and status = 'running'
       order by id for no key update
    ), claimed as (
      update node_runs n
         set status = 'running', attempts = n.attempts + 1, started_at = now(), heartbeat_at = now(), waiting_for = null
        from run, req
       where n.run_id = run.id and req.run_id = run.id and n.node_id = req.node_id
         and (n.status = 'queued' or (n.status = 'running' and n.heartbeat_at < now() - make_interval(secs => ${staleAfterMs / 1000})))
      returning n.run_id, n.node_id, n.attempts, n.type, run.workflow_id, run.version, run.workspace_id, run.priority, run.input, run.depth, run.traceparent
    ), event as (
      insert into run_events (run_id, type, node_id, attempt)
      select run_id, 'node.started', node_id, attempts from claimed order by run_id, node_id
    )
    select * from claimed`.execute(db);
  return result.rows;
}

export async function heartbeatNode(db: Database, runId: string, nodeId: string, attempt: number): Promise<boolean> {
  const res = await db
    .updateTable('node_runs')
    .set({ heartbeat_at: sql<Date>`now()` })
    .where(heldBy(runId, nodeId, attempt))
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

export interface NodeOutcome {
  status: 'succeeded' | 'failed' | 'skipped';
  output?: JsonValue | null;
  error?: ErrorJson | null;
  /** The params the provider ran with, expressions resolved and secrets redacted: kept in the outcome's event. */
  params?: JsonValue;
}

/**
 * Who may record a node's result: the worker holding this attempt, or the wake-up of a waiting
 * node (`childRunId`: a waiting workflow.run node is completed only by the end of its own child).
 */
export type NodeHolder = { status: 'running'; attempt: number } | { status: 'waiting'; childRunId?: string };

export interface Parking {
  waitingFor: string;
  wakeAt?: Date;
  wakeOutcome?: WakeOutcome;
  childRunId?: string;
}

/** running(attempt) → waiting: the job ends, the node keeps its place in Postgres. */
export async function parkNode(db: Database, runId: string, nodeId: string, attempt: number, p: Parking): Promise<boolean> {
  const res = await db
    .updateTable('node_runs')
    .set({
      status: 'waiting',
      waiting_for: p.waitingFor,
      wake_at: p.wakeAt ?? null,
      wake_outcome: p.wakeOutcome ? JSON.stringify(p.wakeOutcome) : null,
      child_run_id: p.childRunId ?? null,
      heartbeat_at: null,
    })
    .where(heldBy(runId, nodeId, attempt))
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

export async function getNodeRun(db: Database, runId: string, nodeId: string) {
  return db.selectFrom('node_runs').selectAll().where('run_id', '=', runId).where('node_id', '=', nodeId).executeTakeFirst();
}

/** running(attempt) → queued again, for a retry after backoff. */
export async function requeueRunningNode(db: Database, runId: string, nodeId: string, attempt: number, waitingFor: string): Promise<boolean> {
  const res = await db
    .updateTable('node_runs')
    .set({ status: 'queued', queued_at: sql<Date>`now()`, waiting_for: waitingFor })
    .where(heldBy(runId, nodeId, attempt))
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

/** pending → queued for the nodes the scheduler found ready. */
export async function queuePendingNodes(db: Database, runId: string, nodeIds: readonly string[]): Promise<string[]> {
  if (nodeIds.length === 0) return [];
  const rows = await db
    .updateTable('node_runs')
    .set({ status: 'queued', queued_at: sql<Date>`now()` })
    .where('run_id', '=', runId)
    .where('node_id', 'in', [...nodeIds])
    .where('status', '=', 'pending')
    .returning('node_id')
    .execute();
  return rows.map((r) => r.node_id);
}

/** pending → skipped, each with its reason. */
export async function skipPendingNodes(db: Database, runId: string, skips: readonly { nodeId: string; error: ErrorJson }[]) {
  for (const { nodeId, error } of skips) {
    await db
      .updateTable('node_runs')
      .set({ status: 'skipped', error: JSON.stringify(error), finished_at: sql<Date>`now()` })
      .where('run_id', '=', runId)
      .where('node_id', '=', nodeId)
      .where('status', '=', 'pending')
      .execute();
  }
}

/** Outputs of the succeeded nodes among `nodeIds`: the run's output is its succeeded sinks'. */
export async function succeededOutputs(db: Database, runId: string, nodeIds: readonly string[]) {
  if (nodeIds.length === 0) return [];
  return db
    .selectFrom('node_runs')
    .select(['node_id', 'output'])
    .where('run_id', '=', runId)
    .where('node_id', 'in', [...nodeIds])
    .where('status', '=', 'succeeded')
    .execute();
}

/** Every unfinished node of a run → cancelled; returns the ones that had a job or timer. */
export async function cancelOpenNodes(db: Database, runId: string, error: ErrorJson) {
  const open = await db
    .selectFrom('node_runs')
    .select(['node_id', 'status', 'type'])
    .where('run_id', '=', runId)
    .where('status', 'in', ['pending', 'queued', 'running', 'waiting'])
    .forUpdate()
    .execute();
  if (open.length === 0) return [];
  await db
    .updateTable('node_runs')
    .set({ status: 'cancelled', error: JSON.stringify(error), finished_at: sql<Date>`now()`, waiting_for: null, wake_at: null, wake_outcome: null })
    .where('run_id', '=', runId)
    .where('status', 'in', ['pending', 'queued', 'running', 'waiting'])
    .execute();
  return open;
}
