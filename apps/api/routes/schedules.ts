import { OpenAPIHono, z } from '@hono/zod-openapi';
import {
  deleteSchedule,
  getSchedule,
  insertSchedule,
  listSchedules,
  notifyScheduleChanged,
  updateSchedule,
  workspaceSettings,
  type ScheduleFields,
  type ScheduleRow,
} from '../../../db/schedules.js';
import type { JsonValue } from '../../../db/types.js';
import { findWorkflow } from '../../../db/workflows.js';
import { badRequest, notFound, tooLarge } from '../../../lib/errors.js';
import { canonicalTimeZone, nextFireTimes, validateCron } from '../../../lib/schedules/cron.js';
import { syncScheduler } from '../../../lib/schedules/sync.js';
import { audit } from '../audit.js';
import type { ApiDeps, ApiEnv } from '../context.js';
import { decodeCursor, emptyPage, page, pageQuery, workflowFilter } from '../pagination.js';
import { defineRoute } from '../route.js';

/** A workspace's `settings.scheduleMinIntervalSeconds`: the closest two fires of one schedule may be. */
export const MIN_INTERVAL_SETTING = 'scheduleMinIntervalSeconds';
const DEFAULT_MIN_INTERVAL_SECONDS = 1;

const json = (description: string) => ({ description, content: { 'application/json': { schema: z.looseObject({}) } } });
const id = z.object({ id: z.string().uuid() });
const fields = {
  workflow: z.string().min(1).max(64).openapi({ description: 'workflow id or name' }),
  cron: z.string().min(1).max(256).openapi({ description: '5 fields, or 6 with seconds first', example: '0 9 * * MON-FRI' }),
  timezone: z.string().min(1).max(64).openapi({ description: 'IANA time zone', example: 'Europe/Berlin' }),
  input: z.unknown().openapi({ description: "each run's input, any JSON" }),
  enabled: z.boolean(),
  overlap: z.enum(['allow', 'skip', 'queue']).openapi({ description: 'a tick while the previous run is active: start anyway, skip it, or queue it' }),
  catchUp: z.enum(['none', 'latest']).openapi({ description: 'after scheduler downtime: nothing, or one run for the missed window' }),
};
const createBody = z
  .object({
    ...fields,
    timezone: fields.timezone.default('UTC'),
    input: fields.input.optional(),
    enabled: fields.enabled.default(true),
    overlap: fields.overlap.default('allow'),
    catchUp: fields.catchUp.default('none'),
  })
  .strict();
const patchBody = z.object(fields).partial().strict();

const create = defineRoute('editor', { method: 'post', path: '/v1/schedules', tags: ['schedules'], summary: 'Create a cron schedule for a workflow', request: { body: { required: true, content: { 'application/json': { schema: createBody } } } }, responses: { 201: json('created, with its next fire times') } });
const list = defineRoute('viewer', { method: 'get', path: '/v1/schedules', tags: ['schedules'], summary: 'List schedules, newest first', request: { query: z.object({ ...pageQuery, workflow: z.string().min(1).max(64).optional() }) }, responses: { 200: json('a page') } });
const get = defineRoute('viewer', { method: 'get', path: '/v1/schedules/{id}', tags: ['schedules'], summary: 'A schedule and its next 5 fire times', request: { params: id }, responses: { 200: json('the schedule') } });
const patch = defineRoute('editor', { method: 'patch', path: '/v1/schedules/{id}', tags: ['schedules'], summary: 'Change a schedule (enabled: false stops it at once)', request: { params: id, body: { required: true, content: { 'application/json': { schema: patchBody } } } }, responses: { 200: json('the schedule') } });
const remove = defineRoute('editor', { method: 'delete', path: '/v1/schedules/{id}', tags: ['schedules'], summary: 'Delete a schedule (its runs stay)', request: { params: id }, responses: { 204: { description: 'deleted' } } });

const iso = (d: Date) => d.toISOString();

export function present(s: ScheduleRow, now = new Date()) {
  const firing = s.enabled && !s.workflow_archived_at;
  return {
    id: s.id,
    workflowId: s.workflow_id,
    workflowName: s.workflow_name,
    cron: s.cron,
    timezone: s.timezone,
    input: s.input,
    enabled: s.enabled,
    overlap: s.overlap,
    catchUp: s.catch_up,
    nextFireTimes: firing ? nextFireTimes(s.cron, s.timezone, now).map(iso) : [],
    createdAt: iso(s.created_at),
    updatedAt: iso(s.updated_at),
  };
}

export function scheduleRoutes({ db, queues, config, log }: ApiDeps) {
  const app = new OpenAPIHono<ApiEnv>();

  /**
   * Everything a write must satisfy; throws the 4xx naming the problem. A PATCH checks only what
   * it changes: a schedule made before its workspace raised the minimum can still be disabled.
   */
  const check = async (
    workspaceId: string,
    f: Omit<ScheduleFields, 'workflowId'> & { workflow: string },
    changed: { workflow: boolean; cron: boolean } = { workflow: true, cron: true },
  ): Promise<ScheduleFields> => {
    if (Buffer.byteLength(JSON.stringify(f.input)) > config.MAX_RUN_INPUT_BYTES) {
      throw tooLarge(`A schedule's input is a run input: at most ${config.MAX_RUN_INPUT_BYTES} bytes (MAX_RUN_INPUT_BYTES).`);
    }
    const wf = await findWorkflow(db, workspaceId, f.workflow);
    if (!wf || (changed.workflow && wf.archived_at)) throw badRequest(`No workflow '${f.workflow}' in this workspace.`, [{ pointer: '/workflow', message: 'no such workflow' }]);
    if (changed.cron) {
      const minSeconds = Number((await workspaceSettings(db, workspaceId))[MIN_INTERVAL_SETTING] ?? DEFAULT_MIN_INTERVAL_SECONDS);
      const problems = validateCron(f.cron, f.timezone, (Number.isFinite(minSeconds) ? minSeconds : DEFAULT_MIN_INTERVAL_SECONDS) * 1000);
      if (problems.length > 0) throw badRequest(`The schedule is invalid: ${problems.map((p) => `${p.pointer!.slice(1)} ${p.message}`).join('; ')}.`, problems);
    }
    const { workflow: _name, ...rest } = f;
    return { ...rest, cron: f.cron.trim().replace(/\s+/g, ' '), timezone: canonicalTimeZone(f.timezone) ?? f.timezone, workflowId: wf.id };
  };
  const sync = (scheduleId: string, s?: ScheduleRow) => syncScheduler(queues, log, scheduleId, s && { ...s, firing: s.enabled && !s.workflow_archived_at });
  const load = async (workspaceId: string, scheduleId: string) => {
    const s = await getSchedule(db, scheduleId, workspaceId);
    if (!s) throw notFound('schedule');
    return s;
  };

  app.openapi(create, async (c) => {
    const body = c.req.valid('json');
    const { workspaceId } = c.get('principal');
    const f = await check(workspaceId, { ...body, input: (body.input ?? null) as JsonValue });
    const scheduleId = await db.transaction().execute(async (tx) => {
      const row = await insertSchedule(tx, workspaceId, f);
      await audit(c, tx, 'schedule.create', 'schedule', row.id, { workflowId: f.workflowId, cron: f.cron });
      await notifyScheduleChanged(tx, row.id);
      return row.id;
    });
    const s = await load(workspaceId, scheduleId);
    await sync(s.id, s);
    return c.json(present(s), 201);
  });

  app.openapi(list, async (c) => {
    const q = c.req.valid('query');
    const { workspaceId } = c.get('principal');
    const workflowId = await workflowFilter(db, workspaceId, q.workflow);
    if (workflowId === null) return c.json(emptyPage, 200);
    const rows = await listSchedules(db, workspaceId, { limit: q.limit, workflowId, after: decodeCursor(q.cursor) });
    const now = new Date();
    return c.json(page(rows, q.limit, (s) => present(s, now)), 200);
  });

  app.openapi(get, async (c) => c.json(present(await load(c.get('principal').workspaceId, c.req.valid('param').id)), 200));

  app.openapi(patch, async (c) => {
    const { workspaceId } = c.get('principal');
    const before = await load(workspaceId, c.req.valid('param').id);
    const body = c.req.valid('json');
    const f = await check(workspaceId, {
      workflow: body.workflow ?? before.workflow_id,
      cron: body.cron ?? before.cron,
      timezone: body.timezone ?? before.timezone,
      input: (body.input === undefined ? before.input : body.input) as JsonValue,
      enabled: body.enabled ?? before.enabled,
      overlap: body.overlap ?? before.overlap,
      catchUp: body.catchUp ?? before.catch_up,
    }, { workflow: body.workflow !== undefined, cron: body.cron !== undefined || body.timezone !== undefined });
    await db.transaction().execute(async (tx) => {
      if (!(await updateSchedule(tx, workspaceId, before.id, f))) throw notFound('schedule');
      await audit(c, tx, 'schedule.update', 'schedule', before.id, { changed: Object.keys(body) });
      await notifyScheduleChanged(tx, before.id);
    });
    const after = await load(workspaceId, before.id);
    // Input and policies are read at each tick; re-upserting for them would only reset a due tick.
    if (after.cron !== before.cron || after.timezone !== before.timezone || after.enabled !== before.enabled) await sync(after.id, after);
    return c.json(present(after), 200);
  });

  app.openapi(remove, async (c) => {
    const { workspaceId } = c.get('principal');
    const scheduleId = c.req.valid('param').id;
    await db.transaction().execute(async (tx) => {
      if (!(await deleteSchedule(tx, workspaceId, scheduleId))) throw notFound('schedule');
      await audit(c, tx, 'schedule.delete', 'schedule', scheduleId);
      await notifyScheduleChanged(tx, scheduleId);
    });
    await sync(scheduleId);
    return c.body(null, 204);
  });

  return app;
}
