import { OpenAPIHono, z } from '@hono/zod-openapi';
import { isUniqueViolation } from '../../../db/errors.js';
import { notifyWorkflowSchedulesChanged } from '../../../db/schedules.js';
import { addVersion, archiveWorkflow, findWorkflow, getVersion, insertWorkflow, listVersions, listWorkflows } from '../../../db/workflows.js';
import type { JsonValue } from '../../../db/types.js';
import { badRequest, conflict, notFound } from '../../../lib/errors.js';
import { syncScheduler } from '../../../lib/schedules/sync.js';
import { definitionSchema, type WorkflowDefinition } from '../../../lib/workflows/definition.js';
import { validateWorkflow } from '../../../lib/workflows/validate.js';
import { audit } from '../audit.js';
import type { ApiDeps, ApiEnv } from '../context.js';
import { decodeCursor, page, pageQuery } from '../pagination.js';
import { presentWorkflow } from '../present.js';
import { defineRoute } from '../route.js';

const idOrName = z.object({ idOrName: z.string().min(1).max(64).openapi({ description: 'workflow id or name' }) });
const definitionBody = { required: true, content: { 'application/json': { schema: z.looseObject({}).openapi('WorkflowDefinition', { description: 'see DESIGN.md: name, nodes, edges, ...' }) } } };
const json = (description: string) => ({ description, content: { 'application/json': { schema: z.looseObject({}) } } });

const create = defineRoute('editor', { method: 'post', path: '/v1/workflows', tags: ['workflows'], summary: 'Create a workflow (version 1)', request: { body: definitionBody }, responses: { 201: json('created') } });
const list = defineRoute('viewer', { method: 'get', path: '/v1/workflows', tags: ['workflows'], summary: 'List workflows, newest first', request: { query: z.object(pageQuery) }, responses: { 200: json('a page') } });
const get = defineRoute('viewer', { method: 'get', path: '/v1/workflows/{idOrName}', tags: ['workflows'], summary: 'A workflow at its latest version (or at ?version=)', request: { params: idOrName, query: z.object({ version: z.coerce.number().int().min(1).optional().openapi({ description: 'an earlier version (default: latest)' }) }) }, responses: { 200: json('the workflow') } });
const update = defineRoute('editor', { method: 'put', path: '/v1/workflows/{idOrName}', tags: ['workflows'], summary: 'Save a new immutable version', request: { params: idOrName, body: definitionBody }, responses: { 200: json('the new version') } });
const remove = defineRoute('editor', { method: 'delete', path: '/v1/workflows/{idOrName}', tags: ['workflows'], summary: 'Archive (runs stay readable)', request: { params: idOrName }, responses: { 204: { description: 'archived' } } });
const versions = defineRoute('viewer', { method: 'get', path: '/v1/workflows/{idOrName}/versions', tags: ['workflows'], summary: 'Versions, newest first', request: { params: idOrName }, responses: { 200: json('versions') } });

export function workflowRoutes({ db, engine, queues, log }: ApiDeps) {
  const app = new OpenAPIHono<ApiEnv>();

  const validate = (body: unknown): WorkflowDefinition => {
    const result = validateWorkflow(body, engine.registry);
    if (!result.ok) throw badRequest(`The workflow definition has ${result.problems.length} problem(s): see details.`, result.problems);
    return result.definition;
  };
  const fields = (def: WorkflowDefinition) => ({
    name: def.name,
    description: def.description ?? null,
    webhookPath: def.webhook?.path ?? null,
    concurrency: def.concurrency ?? null,
  });
  const translateConflict = (err: unknown, def: WorkflowDefinition): never => {
    if (isUniqueViolation(err, 'workflows_name_per_workspace')) throw conflict(`A workflow named '${def.name}' already exists in this workspace.`, 'name_taken');
    if (isUniqueViolation(err, 'workflows_webhook_path')) throw conflict(`Webhook path '${def.webhook?.path}' is already used by another workflow.`, 'webhook_path_taken');
    throw err;
  };
  const load = async (workspaceId: string, key: string) => {
    const wf = await findWorkflow(db, workspaceId, key);
    if (!wf) throw notFound(`workflow '${key}'`);
    return wf;
  };

  app.openapi(create, async (c) => {
    const def = validate(c.req.valid('json'));
    const { workspaceId, keyId } = c.get('principal');
    const wf = await db
      .transaction()
      .execute(async (tx) => {
        const row = await insertWorkflow(tx, workspaceId, fields(def), def as unknown as JsonValue, keyId);
        await audit(c, tx, 'workflow.create', 'workflow', row.id, { name: def.name });
        return row;
      })
      .catch((err) => translateConflict(err, def));
    return c.json(presentWorkflow(wf, def), 201);
  });

  app.openapi(list, async (c) => {
    const { limit, cursor } = c.req.valid('query');
    const rows = await listWorkflows(db, c.get('principal').workspaceId, { limit, after: decodeCursor(cursor) });
    return c.json(page(rows, limit, (wf) => presentWorkflow(wf)), 200);
  });

  app.openapi(get, async (c) => {
    const wf = await load(c.get('principal').workspaceId, c.req.valid('param').idOrName);
    const wanted = c.req.valid('query').version ?? wf.latest_version;
    const version = await getVersion(db, wf.id, wanted);
    if (!version) throw notFound(`version ${wanted} of workflow '${wf.name}'`);
    const def = definitionSchema.parse(version.definition);
    return c.json({ ...presentWorkflow(wf, def), ...(wanted === wf.latest_version ? {} : { version: wanted, latestVersion: wf.latest_version, description: def.description ?? null }) }, 200);
  });

  app.openapi(update, async (c) => {
    const def = validate(c.req.valid('json'));
    const wf = await load(c.get('principal').workspaceId, c.req.valid('param').idOrName);
    if (wf.archived_at) throw conflict('This workflow is archived; create a new one.', 'archived');
    const updated = await db
      .transaction()
      .execute(async (tx) => {
        const row = await addVersion(tx, wf.id, fields(def), def as unknown as JsonValue, c.get('principal').keyId);
        await audit(c, tx, 'workflow.update', 'workflow', wf.id, { version: row.latest_version });
        return row;
      })
      .catch((err) => translateConflict(err, def));
    return c.json(presentWorkflow(updated, def), 200);
  });

  app.openapi(remove, async (c) => {
    const wf = await load(c.get('principal').workspaceId, c.req.valid('param').idOrName);
    const schedules = await db.transaction().execute(async (tx) => {
      if (!(await archiveWorkflow(tx, wf.id))) return [];
      await audit(c, tx, 'workflow.archive', 'workflow', wf.id);
      return notifyWorkflowSchedulesChanged(tx, wf.id);
    });
    // Its schedules stop firing now (ticks of an archived workflow are dropped anyway); their job
    // schedulers go too, here and, through the NOTIFY, in every scheduler process.
    for (const id of schedules) await syncScheduler(queues, log, id);
    return c.body(null, 204);
  });

  app.openapi(versions, async (c) => {
    const wf = await load(c.get('principal').workspaceId, c.req.valid('param').idOrName);
    const rows = await listVersions(db, wf.id);
    return c.json({ items: rows.map((v) => ({ version: v.version, createdAt: v.created_at.toISOString(), createdBy: v.created_by })) }, 200);
  });

  return app;
}
