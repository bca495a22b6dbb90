import { sql } from 'kysely';
import type { Database } from './database.js';
import type { NewNodeRun } from './node-runs.js';
import { eventColumns, type NewEvent } from './run-events.js';
import type { ErrorJson, JsonValue, NewRun, Run, RunStatus, TriggerType } from './types.js';

export interface RunAudit {
  apiKeyId: string | null;
  requestId: string | null;
  action: string;
  details: { [key: string]: JsonValue };
}

/**
 * A run, its node rows and its first events in one statement (atomic on its own: no
 * transaction needed). Undefined when the idempotency key was used already.
 */
export async function insertRunWithNodes(db: Database, run: NewRun, nodes: readonly NewNodeRun[], events: readonly NewEvent[], audit?: RunAudit): Promise<Run | undefined> {
  const e = eventColumns(events);
  // The audit entry rides in the same statement: it commits with the run, and costs no round trip.
  const a = audit ?? null;
  // Plain SQL rather than the query builder: this is the API's hottest statement, and building
  // four CTEs through Kysely cost more CPU than running them.
  const { rows } = await sql<Run>`
    with run as (
      insert into runs (workspace_id, workflow_id, version, status, started_at, deadline_at, waiting_for, input, trigger_type,
                        trigger, priority, idempotency_key, retry_of, schedule_id, scheduled_for, exclusive_key,
                        parent_run_id, parent_node_id, depth)
      values (${run.workspace_id}, ${run.workflow_id}, ${run.version}, ${run.status ?? 'queued'}, ${run.started_at ?? null}, ${run.deadline_at ?? null},
              ${run.waiting_for ?? null}, ${run.input ?? 'null'}::jsonb, ${run.trigger_type}, ${run.trigger ?? '{}'}::jsonb, ${run.priority ?? 5},
              ${run.idempotency_key ?? null}, ${run.retry_of ?? null}, ${run.schedule_id ?? null}, ${run.scheduled_for ?? null},
              ${run.exclusive_key ?? null}, ${run.parent_run_id ?? null}, ${run.parent_node_id ?? null}, ${run.depth ?? 0})
      on conflict (workflow_id, idempotency_key) where idempotency_key is not null do nothing
      returning *
    ), nodes as (
      insert into node_runs (run_id, node_id, type, status, output, queued_at, finished_at)
      select run.id, x.node_id, x.type, x.status, x.output,
             case when x.status = 'queued' then now() end, case when x.status = 'succeeded' then now() end
        from run, unnest(${nodes.map((n) => n.node_id)}::text[], ${nodes.map((n) => n.type)}::text[],
                         ${nodes.map((n) => n.status)}::text[], ${nodes.map((n) => (n.output === undefined ? null : JSON.stringify(n.output)))}::jsonb[])
             as x(node_id, type, status, output)
    ), events as (
      insert into run_events (run_id, type, node_id, attempt, data)
      select run.id, x.type, x.node_id, x.attempt, x.data
        from run, unnest(${e.types}::text[], ${e.nodeIds}::text[], ${e.attempts}::int[], ${e.data}::jsonb[])
             with ordinality as x(type, node_id, attempt, data, ord)
       order by x.ord
    ), audit as (
      insert into audit_log (workspace_id, api_key_id, action, target_type, target_id, request_id, details)
      select run.workspace_id, ${a?.apiKeyId ?? null}::uuid, ${a?.action ?? ''}, 'run', run.id::text, ${a?.requestId ?? null}, ${JSON.stringify(a?.details ?? {})}::jsonb
        from run where ${a !== null}
    )
    select * from run`.execute(db);
  return rows[0];
}

export async function findRunByIdempotencyKey(db: Database, workflowId: string, key: string) {
  return db.selectFrom('runs').selectAll().where('workflow_id', '=', workflowId).where('idempotency_key', '=', key).executeTakeFirst();
}

/** Takes the run's row lock: every node state change of a run is serialised behind it. */
export async function lockRun(db: Database, runId: string) {
  return db
    .selectFrom('runs')
    .select(['id', 'status', 'workflow_id', 'workspace_id', 'version', 'priority', 'deadline_at', 'parent_run_id', 'parent_node_id', 'depth', 'output', 'error'])
    .where('id', '=', runId)
    // NO KEY UPDATE: strong enough to serialise the run's changes, yet it does not block the
    // KEY SHARE locks that foreign keys take (a child run or node row referencing this run),
    // which would otherwise deadlock a parent and a child finishing at the same moment.
    .forNoKeyUpdate()
    .executeTakeFirst();
}

/** queued → running (admitted), with its deadline counted from now. */
export async function markRunStarted(db: Database, runId: string, timeoutMs: number | undefined) {
  const res = await db
    .updateTable('runs')
    .set({
      status: 'running',
      started_at: sql<Date>`now()`,
      waiting_for: null,
      deadline_at: timeoutMs === undefined ? null : sql<Date>`now() + make_interval(secs => ${timeoutMs / 1000})`,
    })
    .where('id', '=', runId)
    .where('status', '=', 'queued')
    .returning(['deadline_at'])
    .executeTakeFirst();
  return res;
}

/** queued|running → terminal, once: the conditional update is what makes it exactly once. */
export async function markRunFinished(db: Database, runId: string, status: Exclude<RunStatus, 'queued' | 'running'>, output: JsonValue | null, error: ErrorJson | null) {
  const res = await db
    .updateTable('runs')
    .set({
      status,
      output: output === null ? null : JSON.stringify(output),
      error: error === null ? null : JSON.stringify(error),
      finished_at: sql<Date>`now()`,
      waiting_for: null,
    })
    .where('id', '=', runId)
    .where('status', 'in', ['queued', 'running'])
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

export async function getRun(db: Database, workspaceId: string, runId: string) {
  return db
    .selectFrom('runs as r')
    .innerJoin('workflows as w', 'w.id', 'r.workflow_id')
    .selectAll('r')
    .select('w.name as workflow_name')
    .where('r.id', '=', runId)
    .where('r.workspace_id', '=', workspaceId)
    .executeTakeFirst();
}

export interface RunFilter {
  workflowId?: string;
  status?: RunStatus;
  triggerType?: TriggerType;
  limit: number;
  after?: { createdAt: Date; id: string };
}

/** Newest first, keyset-paginated on (created_at, id): stable under concurrent inserts. */
export async function listRuns(db: Database, workspaceId: string, f: RunFilter) {
  let q = db
    .selectFrom('runs as r')
    .innerJoin('workflows as w', 'w.id', 'r.workflow_id')
    .select([
      'r.id', 'r.workflow_id', 'w.name as workflow_name', 'r.version', 'r.status', 'r.trigger_type', 'r.priority',
      'r.error', 'r.retry_of', 'r.parent_run_id', 'r.waiting_for', 'r.created_at', 'r.started_at', 'r.finished_at',
    ])
    .where('r.workspace_id', '=', workspaceId);
  if (f.workflowId) q = q.where('r.workflow_id', '=', f.workflowId);
  if (f.status) q = q.where('r.status', '=', f.status);
  if (f.triggerType) q = q.where('r.trigger_type', '=', f.triggerType);
  if (f.after) {
    const { createdAt, id } = f.after;
    q = q.where((eb) => eb(eb.refTuple('r.created_at', 'r.id'), '<', eb.tuple(createdAt, id)));
  }
  return q.orderBy('r.created_at', 'desc').orderBy('r.id', 'desc').limit(f.limit + 1).execute();
}

/** Runs started by nodes of `runId` (workflow.run) that have not ended. */
export async function activeChildRuns(db: Database, runId: string) {
  return db.selectFrom('runs').select(['id', 'workspace_id']).where('parent_run_id', '=', runId).where('status', 'in', ['queued', 'running']).execute();
}

/** A run's end state, as a parent's `workflow.run` node needs it. */
export async function runState(db: Database, runId: string) {
  return db.selectFrom('runs').select(['id', 'status', 'output', 'error']).where('id', '=', runId).executeTakeFirst();
}
