import { sql } from 'kysely';
import type { Database } from './database.js';
import type { JsonValue, Schedule } from './types.js';

/** NOTIFYed with a schedule's id when it changes, from inside the changing transaction (delivered on commit). */
export const SCHEDULE_CHANGES_CHANNEL = 'conveyor_schedules';

export type Overlap = Schedule['overlap'];
export type CatchUp = Schedule['catch_up'];

export interface ScheduleFields {
  workflowId: string;
  cron: string;
  timezone: string;
  input: JsonValue;
  enabled: boolean;
  overlap: Overlap;
  catchUp: CatchUp;
}

/** A schedule with its workflow's name and state: what the API shows and the tick consumer needs. */
const withWorkflow = (db: Database) =>
  db
    .selectFrom('schedules as s')
    .innerJoin('workflows as w', 'w.id', 's.workflow_id')
    .selectAll('s')
    .select(['w.name as workflow_name', 'w.latest_version', 'w.archived_at as workflow_archived_at']);

export type ScheduleRow = Awaited<ReturnType<typeof getSchedule>> & {};

const columns = (f: ScheduleFields) => ({
  workflow_id: f.workflowId,
  cron: f.cron,
  timezone: f.timezone,
  input: JSON.stringify(f.input),
  enabled: f.enabled,
  overlap: f.overlap,
  catch_up: f.catchUp,
});

export async function insertSchedule(db: Database, workspaceId: string, f: ScheduleFields) {
  return db
    .insertInto('schedules')
    .values({ workspace_id: workspaceId, ...columns(f) })
    .returning('id')
    .executeTakeFirstOrThrow();
}

export async function updateSchedule(db: Database, workspaceId: string, id: string, f: ScheduleFields): Promise<boolean> {
  const res = await db
    .updateTable('schedules')
    .set({ ...columns(f), updated_at: sql<Date>`now()` })
    .where('workspace_id', '=', workspaceId)
    .where('id', '=', id)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

export async function deleteSchedule(db: Database, workspaceId: string, id: string): Promise<boolean> {
  const res = await db.deleteFrom('schedules').where('workspace_id', '=', workspaceId).where('id', '=', id).executeTakeFirst();
  return Number(res.numDeletedRows) > 0;
}

/** One schedule of a workspace; without `workspaceId` (the tick consumer), any schedule. */
export async function getSchedule(db: Database, id: string, workspaceId?: string) {
  let q = withWorkflow(db).where('s.id', '=', id);
  if (workspaceId) q = q.where('s.workspace_id', '=', workspaceId);
  return q.executeTakeFirst();
}

export async function listSchedules(db: Database, workspaceId: string, page: { limit: number; workflowId?: string; after?: { createdAt: Date; id: string } }) {
  let q = withWorkflow(db).where('s.workspace_id', '=', workspaceId);
  if (page.workflowId) q = q.where('s.workflow_id', '=', page.workflowId);
  if (page.after) {
    const { createdAt, id } = page.after;
    q = q.where((eb) => eb(eb.refTuple('s.created_at', 's.id'), '<', eb.tuple(createdAt, id)));
  }
  return q.orderBy('s.created_at', 'desc').orderBy('s.id', 'desc').limit(page.limit + 1).execute();
}

/** Every schedule that should fire now (enabled, on a workflow that is not archived), or just `onlyId` if it should. */
export async function listFiringSchedules(db: Database, onlyId?: string) {
  let q = db
    .selectFrom('schedules as s')
    .innerJoin('workflows as w', 'w.id', 's.workflow_id')
    .select(['s.id', 's.cron', 's.timezone', 's.catch_up', 's.updated_at'])
    .where('s.enabled', '=', true)
    .where('w.archived_at', 'is', null);
  if (onlyId) q = q.where('s.id', '=', onlyId);
  return q.execute();
}

/** True while a run this schedule started is queued or running (overlap "skip"). */
export async function hasActiveScheduledRun(db: Database, scheduleId: string): Promise<boolean> {
  const row = await db
    .selectFrom('runs')
    .select('id')
    .where('schedule_id', '=', scheduleId)
    .where('status', 'in', ['queued', 'running'])
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

/** The latest tick this schedule made a run for. */
export async function lastScheduledFor(db: Database, scheduleId: string): Promise<Date | undefined> {
  const row = await db.selectFrom('runs').select((eb) => eb.fn.max('scheduled_for').as('last')).where('schedule_id', '=', scheduleId).executeTakeFirst();
  return row?.last ? new Date(row.last) : undefined;
}

/** Serialises a schedule's ticks until the calling transaction ends (overlap "skip": check, then start). */
export async function lockScheduleTicks(db: Database, scheduleId: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtextextended(${`conveyor.schedule.${scheduleId}`}, 0))`.execute(db);
}

/** A workspace's settings object (schedule limits live there). */
export async function workspaceSettings(db: Database, workspaceId: string): Promise<{ [key: string]: JsonValue }> {
  const row = await db.selectFrom('workspaces').select('settings').where('id', '=', workspaceId).executeTakeFirst();
  return row?.settings ?? {};
}

export async function notifyScheduleChanged(db: Database, scheduleId: string): Promise<void> {
  await sql`select pg_notify(${SCHEDULE_CHANGES_CHANNEL}, ${scheduleId})`.execute(db);
}

/** NOTIFYs a change of every schedule of a workflow (it was archived); returns their ids. */
export async function notifyWorkflowSchedulesChanged(db: Database, workflowId: string): Promise<string[]> {
  const { rows } = await sql<{ id: string }>`
    select s.id, pg_notify(${SCHEDULE_CHANGES_CHANNEL}, s.id::text) from schedules s where s.workflow_id = ${workflowId}`.execute(db);
  return rows.map((r) => r.id);
}
