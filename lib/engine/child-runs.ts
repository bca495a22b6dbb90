import { findWorkflow, getVersion } from '../../db/workflows.js';
import type { JsonValue } from '../../db/types.js';
import type { ChildRunRequest } from '../providers/types.js';
import type { EngineDeps } from './deps.js';
import { NodeError } from './node-errors.js';
import { startRun } from './start-run.js';

export interface ParentNode {
  runId: string;
  nodeId: string;
  workspaceId: string;
  depth: number;
  priority: number;
}

/**
 * Starts the child run of a `workflow.run` node. Its idempotency key is the parent node, so a
 * redelivered or taken-over node finds its child instead of starting a second one.
 */
export async function startChildRun(deps: EngineDeps, parent: ParentNode, req: ChildRunRequest): Promise<{ runId: string; status: string }> {
  if (parent.depth + 1 > deps.settings.maxRunDepth) {
    throw new NodeError('max_depth_exceeded', `workflow.run nesting is limited to ${deps.settings.maxRunDepth} levels (MAX_RUN_DEPTH): is '${req.workflow}' calling itself?`);
  }
  const wf = await findWorkflow(deps.db, parent.workspaceId, req.workflow);
  if (!wf || wf.archived_at) throw new NodeError('workflow_not_found', `no workflow named '${req.workflow}' in this workspace`);
  const version = req.version ?? wf.latest_version;
  if (req.version !== undefined && !(await getVersion(deps.db, wf.id, req.version))) {
    throw new NodeError('workflow_not_found', `workflow '${req.workflow}' has no version ${req.version}`);
  }
  const bytes = Buffer.byteLength(JSON.stringify(req.input ?? null));
  if (bytes > deps.settings.maxRunInputBytes) {
    throw new NodeError('input_too_large', `child run input is ${bytes} bytes; the limit (MAX_RUN_INPUT_BYTES) is ${deps.settings.maxRunInputBytes}`);
  }
  const { run } = await startRun(deps, {
    workspaceId: parent.workspaceId,
    workflowId: wf.id,
    version,
    input: req.input as JsonValue,
    trigger: { type: 'workflow', parentRunId: parent.runId, parentNodeId: parent.nodeId },
    priority: parent.priority,
    idempotencyKey: `child.${parent.runId}.${parent.nodeId}`,
    parent: { runId: parent.runId, nodeId: parent.nodeId, depth: parent.depth },
  });
  return { runId: run.id, status: run.status };
}
