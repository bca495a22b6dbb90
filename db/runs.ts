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

/** One run to create: its row (with an id chosen by the caller), its node rows, its first events. */
export interface RunToInsert {
  run: NewRun & { id: string };
  nodes: readonly NewNodeRun[];
  events: readonly NewEvent[];
  /** An audit entry for the creation, committed with the run. */
  audit?: RunAudit;
  /** Insert nothing if the workflow is archived (by the time the statement runs). */
  requireActive?: boolean;
  /**
   * With `requireActive`: the workflow as the caller saw it (a cached read), checked by the
   * insert itself, which inserts nothing if it no longer holds. A check, not a lock.
   */
  assumed?: AssumedWorkflow;
}

export interface AssumedWorkflow {
  concurrency: number | null;
  /** Its latest version, when the run takes the latest. */
  latestVersion?: number;
  /** Its name, when the caller named it. */
  name?: string;
}

/** What creating a run answers with: enough to reply, without reading back its input. */
export type CreatedRun = Pick<Run, 'id' | 'workflow_id' | 'version' | 'status' | 'idempotency_key' | 'created_at'>;

/**
 * Runs, their node rows and their first events in one statement (atomic on its own: no
 * transaction needed), for one run or the many of a group commit. Returns the runs inserted;
 * a run missing from the answer was skipped: its idempotency key was used already, or its
 * workflow is archived (`requireActive`) or no longer as `assumed`. Rows go in in the order
 * given, so give them sorted by idempotency key: two statements then meet a shared key in one
 * order and never deadlock.
 */
export async function insertRuns(db: Database, items: readonly RunToInsert[]): Promise<CreatedRun[]> {
  const runs = items.map((i) => i.run);
  const col = <T>(f: (r: NewRun & { id: string }) => T) => runs.map(f);
  const nodes = items.flatMap((i) => i.nodes.map((n) => ({ runId: i.run.id, ...n })));
  const events = items.flatMap((i) => i.events.map((e) => ({ runId: i.run.id, ...e })));
  const e = eventColumns(events);
  const audits = items.flatMap((i) => (i.audit ? [{ runId: i.run.id, ...i.audit }] : []));
  const assumed = items.map((i) => (i.requireActive ? i.assumed : undefined));
  // Plain SQL rather than the query builder: this is the API's hottest statement. One text for
  // every batch size (arrays, not rows of parameters), so it is prepared once per connection.
  const { rows } = await sql<CreatedRun>`
    with x as (
      select * from unnest(${col((r) => r.id)}::uuid[], ${col((r) => r.workspace_id)}::uuid[], ${col((r) => r.workflow_id)}::uuid[],
                           ${col((r) => r.version)}::int[], ${col((r) => r.status ?? 'queued')}::text[], ${col((r) => r.started_at ?? null)}::timestamptz[],
                           ${col((r) => r.deadline_at ?? null)}::timestamptz[], ${col((r) => r.waiting_for ?? null)}::text[], ${col((r) => r.input ?? 'null')}::jsonb[],
                           ${col((r) => r.trigger_type)}::text[], ${col((r) => r.trigger ?? '{}')}::jsonb[], ${col((r) => r.priority ?? 5)}::int[],
                           ${col((r) => r.idempotency_key ?? null)}::text[], ${col((r) => r.retry_of ?? null)}::uuid[], ${col((r) => r.schedule_id ?? null)}::uuid[],
                           ${col((r) => r.scheduled_for ?? null)}::timestamptz[], ${col((r) => r.exclusive_key ?? null)}::text[], ${col((r) => r.parent_run_id ?? null)}::uuid[],
                           ${col((r) => r.parent_node_id ?? null)}::text[], ${col((r) => r.depth ?? 0)}::int[], ${col((r) => r.traceparent ?? null)}::text[],
                           ${items.map((i) => i.requireActive ?? false)}::bool[],
                           ${assumed.map((a) => a !== undefined)}::bool[], ${assumed.map((a) => a?.concurrency ?? null)}::int[],
                           ${assumed.map((a) => a?.latestVersion ?? null)}::int[], ${assumed.map((a) => a?.name ?? null)}::text[])
             with ordinality as x(id, workspace_id, workflow_id, version, status, started_at, deadline_at, waiting_for, input, trigger_type,
                                  trigger, priority, idempotency_key, retry_of, schedule_id, scheduled_for, exclusive_key,
                                  parent_run_id, parent_node_id, depth, traceparent, require_active, assumes, assumed_concurrency,
                                  assumed_version, assumed_name, ord)
    ), run as (
      insert into runs (id, workspace_id, workflow_id, version, status, started_at, deadline_at, waiting_for, input, trigger_type,
                        trigger, priority, idempotency_key, retry_of, schedule_id, scheduled_for, exclusive_key,
                        parent_run_id, parent_node_id, depth, traceparent)
      select x.id, x.workspace_id, x.workflow_id, x.version, x.status, x.started_at, x.deadline_at, x.waiting_for, x.input, x.trigger_type,
             x.trigger, x.priority, x.idempotency_key, x.retry_of, x.schedule_id, x.scheduled_for, x.exclusive_key,
             x.parent_run_id, x.parent_node_id, x.depth, x.traceparent
        from x
       where not x.require_active
          or exists (select 1 from workflows w
                      where w.id = x.workflow_id and w.archived_at is null
                        and (not x.assumes or w.concurrency is not distinct from x.assumed_concurrency)
                        and (x.assumed_version is null or w.latest_version = x.assumed_version)
                        and (x.assumed_name is null or w.name = x.assumed_name))
       order by x.ord
      on conflict (workflow_id, idempotency_key) where idempotency_key is not null do nothing
      returning id, workspace_id, workflow_id, version, status, idempotency_key, created_at
    ), nodes as (
      insert into node_runs (run_id, node_id, type, status, output, queued_at, finished_at)
      select run.id, n.node_id, n.type, n.status, n.output,
             case when n.status = 'queued' then now() end, case when n.status = 'succeeded' then now() end
        from unnest(${nodes.map((n) => n.runId)}::uuid[], ${nodes.map((n) => n.node_id)}::text[], ${nodes.map((n) => n.type)}::text[],
                    ${nodes.map((n) => n.status)}::text[], ${nodes.map((n) => (n.output === undefined ? null : JSON.stringify(n.output)))}::jsonb[])
             as n(run_id, node_id, type, status, output)
        join run on run.id = n.run_id
    ), events as (
      insert into run_events (run_id, type, node_id, attempt, data)
      select run.id, v.type, v.node_id, v.attempt, v.data
        from unnest(${events.map((v) => v.runId)}::uuid[], ${e.types}::text[], ${e.nodeIds}::text[], ${e.attempts}::int[], ${e.data}::jsonb[])
             with ordinality as v(run_id, type, node_id, attempt, data, ord)
        join run on run.id = v.run_id
       order by v.ord
    ), audit as (
      insert into audit_log (workspace_id, api_key_id, action, target_type, target_id, request_id, details)
      select run.workspace_id, a.api_key_id, a.action, 'run', run.id::text, a.request_id, a.details
        from unnest(${audits.map((a) => a.runId)}::uuid[], ${audits.map((a) => a.apiKeyId)}::uuid[], ${audits.map((a) => a.action)}::text[],
                    ${audits.map((a) => a.requestId)}::text[], ${audits.map((a) => JSON.stringify(a.details))}::jsonb[])
             with ordinality as a(run_id, api_key_id, action, request_id, details, ord)
        join run on run.id = a.run_id
       order by a.ord
    )
    select id, workflow_id, version, status, idempotency_key, created_at from run`.execute(db);
  return rows;
}

/** The runs holding these idempotency keys: what a request whose key was used already answers with. */
export async function findRunsByIdempotencyKeys(db: Database, keys: readonly { workflowId: string; key: string }[]): Promise<CreatedRun[]> {
  if (keys.length === 0) return [];
  const { rows } = await sql<CreatedRun>`
    select r.id, r.workflow_id, r.version, r.status, r.idempotency_key, r.created_at from runs r
      join unnest(${keys.map((k) => k.workflowId)}::uuid[], ${keys.map((k) => k.key)}::text[]) as k(workflow_id, key)
        on r.workflow_id = k.workflow_id and r.idempotency_key = k.key`.execute(db);
  return rows;
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

/** Of these runs, the ones that have ended (a cancel or deadline a LISTEN connection may have missed). */
export async function endedRuns(db: Database, runIds: readonly string[]): Promise<string[]> {
  if (runIds.length === 0) return [];
  const rows = await db.selectFrom('runs').select('id').where('id', 'in', runIds).where('status', 'not in', ['queued', 'running']).execute();
  return rows.map((r) => r.id);
}
