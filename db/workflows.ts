import { sql } from 'kysely';
import type { Database } from './database.js';
import type { JsonValue, Workflow } from './types.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface WorkflowFields {
  name: string;
  description?: string | null;
  webhookPath?: string | null;
  concurrency?: number | null;
}

/** Inserts a workflow and its version 1 (call inside a transaction). */
export async function insertWorkflow(db: Database, workspaceId: string, fields: WorkflowFields, definition: JsonValue, createdBy: string | null) {
  const wf = await db
    .insertInto('workflows')
    .values({
      workspace_id: workspaceId,
      name: fields.name,
      description: fields.description ?? null,
      webhook_path: fields.webhookPath ?? null,
      concurrency: fields.concurrency ?? null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  await db
    .insertInto('workflow_versions')
    .values({ workflow_id: wf.id, version: 1, definition: JSON.stringify(definition), created_by: createdBy })
    .execute();
  return wf;
}

/** Appends the next version and points the workflow at it (call inside a transaction). */
export async function addVersion(db: Database, workflowId: string, fields: WorkflowFields, definition: JsonValue, createdBy: string | null) {
  const wf = await db
    .updateTable('workflows')
    .set({
      latest_version: sql<number>`latest_version + 1`,
      name: fields.name,
      description: fields.description ?? null,
      webhook_path: fields.webhookPath ?? null,
      concurrency: fields.concurrency ?? null,
      updated_at: sql<Date>`now()`,
    })
    .where('id', '=', workflowId)
    .where('archived_at', 'is', null)
    .returningAll()
    .executeTakeFirstOrThrow();
  await db
    .insertInto('workflow_versions')
    .values({ workflow_id: wf.id, version: wf.latest_version, definition: JSON.stringify(definition), created_by: createdBy })
    .execute();
  return wf;
}

/** By id or by name within the workspace; archived workflows are found by id only. */
export async function findWorkflow(db: Database, workspaceId: string, idOrName: string) {
  let q = db.selectFrom('workflows').selectAll().where('workspace_id', '=', workspaceId);
  q = UUID.test(idOrName) ? q.where('id', '=', idOrName) : q.where('name', '=', idOrName).where('archived_at', 'is', null);
  return q.executeTakeFirst();
}

export async function getVersion(db: Database, workflowId: string, version: number) {
  return db
    .selectFrom('workflow_versions')
    .selectAll()
    .where('workflow_id', '=', workflowId)
    .where('version', '=', version)
    .executeTakeFirst();
}

export async function listVersions(db: Database, workflowId: string) {
  return db
    .selectFrom('workflow_versions')
    .select(['version', 'created_at', 'created_by'])
    .where('workflow_id', '=', workflowId)
    .orderBy('version', 'desc')
    .execute();
}

export interface Page { limit: number; after?: { createdAt: Date; id: string } }

export async function listWorkflows(db: Database, workspaceId: string, page: Page) {
  let q = db
    .selectFrom('workflows')
    .selectAll()
    .where('workspace_id', '=', workspaceId)
    .where('archived_at', 'is', null);
  if (page.after) {
    const { createdAt, id } = page.after;
    q = q.where((eb) => eb(eb.refTuple('created_at', 'id'), '<', eb.tuple(createdAt, id)));
  }
  return q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(page.limit + 1).execute();
}

export async function archiveWorkflow(db: Database, workflowId: string): Promise<boolean> {
  const res = await db
    .updateTable('workflows')
    .set({ archived_at: sql<Date>`now()`, updated_at: sql<Date>`now()` })
    .where('id', '=', workflowId)
    .where('archived_at', 'is', null)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

export interface WorkflowRef { workspaceId: string; idOrName: string }

/** findWorkflow for many (workspace, id or name) pairs in one statement, answered in their order. */
export async function findWorkflows(db: Database, refs: WorkflowRef[]): Promise<(Workflow | undefined)[]> {
  const byId = refs.map((r) => (UUID.test(r.idOrName) ? r.idOrName : null));
  const { rows } = await sql<Workflow & { ord: string | number }>`
    with x as (
      select * from unnest(${refs.map((r) => r.workspaceId)}::uuid[], ${byId}::uuid[], ${refs.map((r, i) => (byId[i] ? null : r.idOrName))}::text[])
               with ordinality as x(workspace_id, id, name, ord)
    )
    select w.*, x.ord from x join workflows w on w.workspace_id = x.workspace_id and w.id = x.id
    union all
    select w.*, x.ord from x join workflows w on w.workspace_id = x.workspace_id and w.name = x.name and w.archived_at is null`.execute(db);
  const byOrd = new Map(rows.map(({ ord, ...wf }) => [Number(ord), wf as Workflow]));
  return refs.map((_, i) => byOrd.get(i + 1));
}
