import { randomUUID } from 'node:crypto';
import { succeededOutputs } from '../../db/node-runs.js';
import type { NewEvent } from '../../db/run-events.js';
import type { AssumedWorkflow, RunAudit } from '../../db/runs.js';
import type { JsonValue, NodeStatus, TriggerType } from '../../db/types.js';
import type { EngineDeps } from './deps.js';
import { traceRunCreation } from '../tracing/index.js';
import { commitRun, type StartedRun } from './run-commits.js';
import { settle } from './settle.js';
import { loadVersion } from './versions.js';

export type { StartedRun };

export interface StartRunRequest {
  workspaceId: string;
  workflowId: string;
  version: number;
  input: JsonValue;
  trigger: { type: TriggerType; [key: string]: JsonValue };
  priority?: number;
  idempotencyKey?: string;
  /** Rerun: reuse this run's succeeded outputs and execute only the rest. */
  retryOf?: string;
  /** A cron tick: (scheduleId, scheduledFor) is unique, so a tick makes at most one run (23505 on runs_schedule_tick otherwise). */
  scheduleId?: string;
  scheduledFor?: Date;
  /** At most one run holding this key runs at a time; later ones wait in `queued` (schedule overlap "queue"). */
  exclusiveKey?: string;
  /** A child run started by a `workflow.run` node. */
  parent?: { runId: string; nodeId: string; depth: number };
  /** The workflow's current concurrency limit when the caller has its row (saves a lookup). */
  concurrency?: number | null;
  /** An audit entry for the run's creation, written in the same statement as the run. */
  audit?: RunAudit;
  /**
   * Refuse (404) if the workflow is archived by the time the run is inserted: checked in the
   * insert itself, so an archive racing the request cannot slip a run in after its own check.
   */
  requireActive?: boolean;
  /**
   * With `requireActive`: the workflow row this request decided with (`concurrency`, the version
   * taken), when read from a cache. The insert checks it still holds; if not, nothing is created
   * and StaleWorkflow is thrown, for the caller to read the workflow again and retry.
   */
  assumed?: AssumedWorkflow;
}

/**
 * Creates a run with a row per node in one statement, then enqueues what is ready. A run of
 * a workflow without a concurrency limit starts at once (its roots queued); otherwise it waits
 * in `queued` and admission starts it when a slot is free. Postgres is written first, so a crash
 * before the enqueue loses nothing: the sweeper finds queued nodes without jobs. Concurrent
 * creations share their statement and their addBulk (run-commits.ts).
 */
export function startRun(deps: EngineDeps, req: StartRunRequest): Promise<StartedRun> {
  // The run's root span (tracing on): its traceparent is stored on the run for the node spans to join.
  return traceRunCreation(req, (traceparent) => createRun(deps, req, traceparent));
}

async function createRun(deps: EngineDeps, req: StartRunRequest, traceparent: string | null): Promise<StartedRun> {
  const compiled = await loadVersion(deps.db, req.workflowId, req.version);
  const priority = req.priority ?? 5;
  const concurrency =
    req.concurrency !== undefined
      ? req.concurrency
      : ((await deps.db.selectFrom('workflows').select('concurrency').where('id', '=', req.workflowId).executeTakeFirst())?.concurrency ?? null);
  const admitted = concurrency === null && !req.exclusiveKey;
  const timeoutMs = compiled.definition.timeoutMs;
  const now = new Date();
  const deadline = admitted && timeoutMs !== undefined ? new Date(now.getTime() + timeoutMs) : null;
  const reused = new Map(req.retryOf ? (await succeededOutputs(deps.db, req.retryOf, compiled.dag.nodeIds)).map((r) => [r.node_id, r.output]) : []);
  const statuses = new Map<string, NodeStatus>(
    compiled.dag.nodeIds.map((id) => [id, reused.has(id) ? 'succeeded' : admitted && compiled.dag.roots.includes(id) ? 'queued' : 'pending']),
  );
  // A rerun starts where the reused outputs end: the first nodes whose inputs are all there.
  if (admitted) for (const id of settle(compiled.dag, statuses, [...reused.keys()]).queue) statuses.set(id, 'queued');
  const ready = compiled.dag.nodeIds.filter((id) => statuses.get(id) === 'queued');
  const events: NewEvent[] = [
    { type: 'run.queued', data: req.retryOf ? { retryOf: req.retryOf } : {} },
    ...(admitted ? [{ type: 'run.started' } as NewEvent] : []),
    ...[...reused.keys()].map((nodeId): NewEvent => ({ type: 'node.succeeded', nodeId, data: { reusedFrom: req.retryOf! } })),
    ...ready.map((nodeId): NewEvent => ({ type: 'node.queued', nodeId })),
  ];
  return commitRun(deps, {
    run: {
      id: randomUUID(),
      workspace_id: req.workspaceId,
      workflow_id: req.workflowId,
      version: req.version,
      status: admitted ? 'running' : 'queued',
      started_at: admitted ? now : null,
      deadline_at: deadline,
      waiting_for: admitted ? null : 'a concurrency slot',
      input: JSON.stringify(req.input ?? null),
      trigger_type: req.trigger.type,
      trigger: JSON.stringify(req.trigger),
      priority,
      idempotency_key: req.idempotencyKey ?? null,
      retry_of: req.retryOf ?? null,
      schedule_id: req.scheduleId ?? null,
      scheduled_for: req.scheduledFor ?? null,
      exclusive_key: req.exclusiveKey ?? null,
      parent_run_id: req.parent?.runId ?? null,
      parent_node_id: req.parent?.nodeId ?? null,
      depth: req.parent ? req.parent.depth + 1 : 0,
      traceparent,
    },
    nodes: compiled.definition.nodes.map((n) => ({ node_id: n.id, type: n.type, status: statuses.get(n.id)!, output: reused.get(n.id) ?? undefined })),
    events,
    audit: req.audit,
    requireActive: req.requireActive,
    assumed: req.assumed,
    compiled,
    priority,
    ready,
    admitted,
  });
}
