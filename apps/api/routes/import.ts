import { OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { Database } from '../../../db/database.js';
import { isUniqueViolation } from '../../../db/errors.js';
import { insertSchedule, listSchedules, notifyScheduleChanged, workspaceSettings } from '../../../db/schedules.js';
import type { JsonValue } from '../../../db/types.js';
import { findWorkflowByWebhookPath } from '../../../db/webhooks.js';
import { addVersion, findWorkflow, insertWorkflow } from '../../../db/workflows.js';
import { AppError, badRequest, conflict } from '../../../lib/errors.js';
import { convertN8n } from '../../../lib/import/n8n/convert.js';
import type { ImportReport } from '../../../lib/import/n8n/types.js';
import { validateCron } from '../../../lib/schedules/cron.js';
import { syncScheduler } from '../../../lib/schedules/sync.js';
import { NAME_PATTERN, type WorkflowDefinition } from '../../../lib/workflows/definition.js';
import { audit } from '../audit.js';
import type { ApiDeps, ApiEnv } from '../context.js';
import { presentWorkflow } from '../present.js';
import { MIN_INTERVAL_SETTING } from './schedules.js';
import { defineRoute } from '../route.js';

const name = z.string().regex(NAME_PATTERN, 'must match [a-z0-9][a-z0-9-_]{0,63}');
const body = z
  .object({
    format: z.literal('n8n').openapi({ description: 'the export format; n8n is the one supported' }),
    workflow: z.unknown().refine((v) => v !== undefined, 'give the n8n export as `workflow`').openapi({ description: "an n8n workflow export (n8n's Download or `n8n export:workflow`)" }),
    name: name.optional().openapi({ description: "the Conveyor workflow name (default: the export's name, slugged); an existing name gets a new version" }),
    dryRun: z.boolean().default(false).openapi({ description: 'convert and report, create nothing' }),
    allowPartial: z.boolean().default(false).openapi({ description: 'put a noop placeholder in place of each unconvertible node instead of refusing' }),
    workflowMap: z.record(z.string().max(256), name).optional().openapi({ description: 'n8n workflow id → Conveyor workflow name, for Execute Workflow nodes' }),
  })
  .strict();
const json = (description: string) => ({ description, content: { 'application/json': { schema: z.looseObject({}) } } });

const importRoute = defineRoute('editor', {
  method: 'post',
  path: '/v1/workflows/import',
  tags: ['workflows'],
  summary: 'Import an n8n workflow export (a new workflow, or a new version of the one with that name)',
  request: { body: { required: true, content: { 'application/json': { schema: body } } } },
  responses: { 200: json('dry run, or a new version: {definition, report} (and workflow)'), 201: json('created: {workflow, definition, report}'), 422: json('unconvertible parts, each in details') },
});

export function importRoutes({ db, engine, queues, log }: ApiDeps) {
  const app = new OpenAPIHono<ApiEnv>();

  app.openapi(importRoute, async (c) => {
    const req = c.req.valid('json');
    const result = convertN8n(req.workflow, { name: req.name, allowPartial: req.allowPartial, workflowMap: req.workflowMap, registry: engine.registry });
    if (!result.ok) throw badRequest(result.message, result.problems, result.code);
    const { definition: def, report, problems } = result;
    if (problems.length > 0) {
      throw new AppError(422, 'unconvertible', `${problems.length} part(s) of the n8n workflow cannot be converted: see details, or import with allowPartial: true to put placeholders in their place.`, problems);
    }
    const { workspaceId } = c.get('principal');
    // The workspace's floor on schedule frequency holds for imported schedules too.
    const minSeconds = Number((await workspaceSettings(db, workspaceId))[MIN_INTERVAL_SETTING] ?? 1);
    const tooFrequent = report.schedules.filter((s) => validateCron(s.cron, s.timezone, (Number.isFinite(minSeconds) ? minSeconds : 1) * 1000).length > 0);
    if (tooFrequent.length > 0 && !req.allowPartial) {
      throw new AppError(422, 'unconvertible', 'A schedule fires more often than this workspace allows: see details, or import with allowPartial: true to leave it out.', tooFrequent.map((s) => ({ pointer: `/nodes/${s.n8nNode}`, message: `trigger '${s.n8nNode}': '${s.cron}' fires more often than every ${minSeconds} s (the workspace's ${MIN_INTERVAL_SETTING})` })));
    }
    for (const s of tooFrequent) report.warnings.push(`schedule '${s.cron}' of '${s.n8nNode}' is left out: it fires more often than every ${minSeconds} s`);
    report.schedules = report.schedules.filter((s) => !tooFrequent.includes(s));
    const holder = def.webhook ? await findWorkflowByWebhookPath(db, def.webhook.path) : undefined;
    const taken = holder && !(holder.workspace_id === workspaceId && holder.name === def.name) ? pathTaken(def, holder.workspace_id === workspaceId ? holder.name : undefined) : undefined;
    if (req.dryRun) {
      if (taken) report.warnings.push(`${taken.message} Importing would answer 409.`);
      return c.json({ definition: def, report }, 200);
    }
    if (taken) throw taken;
    const saved = await saveImport(c, db, def, report);
    for (const s of saved.schedules) await syncScheduler(queues, log, s.id, { ...s, firing: true });
    return c.json({ workflow: presentWorkflow(saved.row, def), definition: def, report }, saved.created ? 201 : 200);
  });

  return app;
}

const pathTaken = (def: WorkflowDefinition, holder?: string) =>
  conflict(`Webhook path '${def.webhook?.path}' is already used by ${holder ? `the workflow '${holder}'` : 'another workflow'}: change the n8n Webhook's path, or import under that workflow's name.`, 'webhook_path_taken');

/**
 * Creates the workflow (or its next version) and the schedules it does not have yet, audited, in
 * one transaction: the same path a POST or PUT /v1/workflows takes, plus the triggers' schedules.
 */
async function saveImport(c: Context<ApiEnv>, db: Database, def: WorkflowDefinition, report: ImportReport) {
  const { workspaceId, keyId } = c.get('principal');
  return db
    .transaction()
    .execute(async (tx) => {
      const existing = await findWorkflow(tx, workspaceId, def.name);
      const fields = { name: def.name, description: def.description ?? null, webhookPath: def.webhook?.path ?? null, concurrency: def.concurrency ?? null };
      const row = existing
        ? await addVersion(tx, existing.id, fields, def as unknown as JsonValue, keyId)
        : await insertWorkflow(tx, workspaceId, fields, def as unknown as JsonValue, keyId);
      await audit(c, tx, 'workflow.import', 'workflow', row.id, { name: def.name, format: 'n8n', version: row.latest_version, created: !existing });
      // A re-import keeps the schedules it made before: only new (cron, time zone) pairs are added.
      const have = existing ? await listSchedules(tx, workspaceId, { limit: 1000, workflowId: row.id }) : [];
      const schedules: { id: string; cron: string; timezone: string }[] = [];
      for (const s of report.schedules) {
        if (have.some((h) => h.cron === s.cron && h.timezone === s.timezone) || schedules.some((h) => h.cron === s.cron && h.timezone === s.timezone)) continue;
        const inserted = await insertSchedule(tx, workspaceId, { workflowId: row.id, cron: s.cron, timezone: s.timezone, input: null, enabled: true, overlap: 'allow', catchUp: 'none' });
        await audit(c, tx, 'schedule.create', 'schedule', inserted.id, { workflowId: row.id, cron: s.cron, importedFrom: 'n8n' });
        await notifyScheduleChanged(tx, inserted.id);
        schedules.push({ id: inserted.id, cron: s.cron, timezone: s.timezone });
      }
      return { row, created: !existing, schedules };
    })
    .catch((err) => {
      if (isUniqueViolation(err, 'workflows_webhook_path')) throw pathTaken(def);
      if (isUniqueViolation(err, 'workflows_name_per_workspace')) throw conflict(`A workflow named '${def.name}' was created at the same moment; import again to add a version.`, 'name_taken');
      throw err;
    });
}
