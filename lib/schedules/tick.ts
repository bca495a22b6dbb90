import { isUniqueViolation } from '../../db/errors.js';
import { getSchedule, hasActiveScheduledRun, lockScheduleTicks, type ScheduleRow } from '../../db/schedules.js';
import type { JsonValue } from '../../db/types.js';
import type { EngineDeps } from '../engine/deps.js';
import { startRun } from '../engine/start-run.js';

/**
 * One cron tick → at most one run. The queue delivers each tick once in the normal case; the
 * unique (schedule_id, scheduled_for) key in Postgres is what makes a redelivery, a second
 * scheduler or a catch-up of the same tick harmless.
 */
export interface Tick {
  scheduleId: string;
  /** The tick's fire time: the job scheduler's `nextMillis` for it. */
  fireTime: Date;
  /**
   * False when this tick was already handed to a scheduler once (a stall after a crash, a
   * retry) or is a reconciliation catch-up: its lateness is then not a missed tick.
   */
  firstDelivery: boolean;
}

export type TickOutcome =
  /** A run was created. */
  | 'started'
  /** This tick already has its run (another delivery or scheduler made it). */
  | 'duplicate'
  /** overlap "skip": the previous run of this schedule is still queued or running. */
  | 'skipped_overlap'
  /** catchUp "none": delivered later than the misfire grace, so it is dropped. */
  | 'missed'
  /** The schedule was deleted, disabled or its workflow archived since the tick was planned. */
  | 'inactive';

export interface TickSettings {
  /** A first delivery later than this after its fire time counts as missed (scheduler downtime). */
  misfireGraceMs: number;
}

/** Starts a schedule's workflow for a tick, applying its overlap and catch-up policies. */
export async function fireTick(deps: EngineDeps, tick: Tick, settings: TickSettings, now = new Date()): Promise<TickOutcome> {
  const schedule = await getSchedule(deps.db, tick.scheduleId);
  if (!schedule || !schedule.enabled || schedule.workflow_archived_at) return 'inactive';
  const lateMs = now.getTime() - tick.fireTime.getTime();
  const late = lateMs > settings.misfireGraceMs;
  if (late && tick.firstDelivery && schedule.catch_up === 'none') return 'missed';
  try {
    if (schedule.overlap !== 'skip') {
      await start(deps, schedule, tick, late);
      return 'started';
    }
    // Checked and started under a per-schedule lock: two late ticks cannot both see "idle".
    return await deps.db.transaction().execute(async (tx) => {
      await lockScheduleTicks(tx, schedule.id);
      if (await hasActiveScheduledRun(deps.db, schedule.id)) return 'skipped_overlap' as const;
      await start(deps, schedule, tick, late);
      return 'started' as const;
    });
  } catch (err) {
    if (isUniqueViolation(err, 'runs_schedule_tick')) return 'duplicate';
    throw err;
  }
}

async function start(deps: EngineDeps, schedule: ScheduleRow, tick: Tick, late: boolean) {
  await startRun(deps, {
    workspaceId: schedule.workspace_id,
    workflowId: schedule.workflow_id,
    version: schedule.latest_version,
    input: schedule.input as JsonValue,
    trigger: { type: 'schedule', scheduleId: schedule.id, firedAt: tick.fireTime.toISOString(), ...(late ? { catchUp: true } : {}) },
    scheduleId: schedule.id,
    scheduledFor: tick.fireTime,
    exclusiveKey: schedule.overlap === 'queue' ? `schedule:${schedule.id}` : undefined,
  });
}
