import type { JsonValue, NodeRun, Run, Workflow } from '../../db/types.js';
import type { WorkflowDefinition } from '../../lib/workflows/definition.js';

/** Database rows → the API's camelCase JSON. */
const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function presentWorkflow(wf: Workflow, definition?: WorkflowDefinition) {
  return {
    id: wf.id,
    name: wf.name,
    description: wf.description,
    version: wf.latest_version,
    archived: wf.archived_at !== null,
    createdAt: iso(wf.created_at),
    updatedAt: iso(wf.updated_at),
    ...(definition
      ? {
          concurrency: definition.concurrency ?? null,
          timeoutMs: definition.timeoutMs ?? null,
          nodes: definition.nodes,
          edges: definition.edges,
          webhook: definition.webhook ?? null,
        }
      : {}),
  };
}

type RunRow = Pick<Run, 'id' | 'workflow_id' | 'version' | 'status' | 'error' | 'retry_of' | 'parent_run_id' | 'waiting_for' | 'created_at' | 'started_at' | 'finished_at' | 'priority'> & {
  workflow_name: string;
  trigger_type: string;
};

export function presentRunSummary(r: RunRow) {
  return {
    id: r.id,
    workflowId: r.workflow_id,
    workflowName: r.workflow_name,
    version: r.version,
    status: r.status,
    priority: r.priority,
    error: r.error,
    trigger: { type: r.trigger_type },
    retryOf: r.retry_of,
    parentRunId: r.parent_run_id,
    waitingFor: r.waiting_for,
    createdAt: iso(r.created_at),
    startedAt: iso(r.started_at),
    finishedAt: iso(r.finished_at),
  };
}

export interface RunWaits {
  run: string | null;
  nodes: ReadonlyMap<string, string | null>;
}

/** `params`: each node's params as it last ran (expressions resolved, secrets redacted), when recorded. */
export function presentRun(r: Run & { workflow_name: string }, nodes: NodeRun[], order: readonly string[], waits?: RunWaits, params?: ReadonlyMap<string, JsonValue>) {
  const position = new Map(order.map((id, i) => [id, i]));
  return {
    ...presentRunSummary(r),
    waitingFor: waits ? waits.run : r.waiting_for,
    parentNodeId: r.parent_node_id,
    childRunIds: nodes.flatMap((n) => (n.child_run_id ? [n.child_run_id] : [])),
    input: r.input,
    output: r.output,
    trigger: { ...(r.trigger as object), type: r.trigger_type },
    nodes: [...nodes]
      .sort((a, b) => (position.get(a.node_id) ?? 0) - (position.get(b.node_id) ?? 0))
      .map((n) => ({
        id: n.node_id,
        type: n.type,
        status: n.status,
        attempts: n.attempts,
        params: params?.get(n.node_id) ?? null,
        output: n.output,
        error: n.error,
        waitingFor: waits ? (waits.nodes.get(n.node_id) ?? null) : n.waiting_for,
        ...(n.child_run_id ? { childRunId: n.child_run_id } : {}),
        startedAt: iso(n.started_at),
        finishedAt: iso(n.finished_at),
      })),
  };
}
