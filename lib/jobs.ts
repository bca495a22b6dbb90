import { z } from 'zod';

/**
 * The job catalog: queue names and payloads, the one contract producers and consumers share.
 * Payloads carry ids only; Postgres holds everything else (outputs, inputs, secrets).
 */

/** Node executions whose provider declares no queue of its own. */
export const DEFAULT_NODE_QUEUE = 'nodes';
/** Timers: wake-ups of waiting nodes (delays, signal timeouts) and run deadlines. */
export const CONTROL_QUEUE = 'control';
/** Cron ticks from BullMQ job schedulers, consumed by the scheduler process. */
export const SCHEDULE_QUEUE = 'schedules';

/** A node job's payload: ids only. */
export interface NodeJob {
  runId: string;
  nodeId: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A node job's payload checked without zod, on the hot path: it is ours (written by
 * enqueueMany), so one cheap look replaces a parse per node; what fails it is still refused.
 */
export function isNodeJob(data: unknown): data is NodeJob {
  const d = data as { runId?: unknown; nodeId?: unknown } | null;
  return typeof d?.runId === 'string' && UUID.test(d.runId) && typeof d.nodeId === 'string' && d.nodeId.length >= 1 && d.nodeId.length <= 64;
}

export const controlJobSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('wake'), runId: z.string().uuid(), nodeId: z.string() }),
  z.object({ kind: z.literal('deadline'), runId: z.string().uuid() }),
]);
export type ControlJob = z.infer<typeof controlJobSchema>;

export const scheduleJobSchema = z.object({ scheduleId: z.string().uuid() });
export type ScheduleJob = z.infer<typeof scheduleJobSchema>;

/**
 * BullMQ job ids may not contain ':'; they dedupe only while the job exists, so Postgres state,
 * not the id, is what makes a duplicate harmless.
 */
export const nodeJobId = (runId: string, nodeId: string) => `n.${runId}.${nodeId}`;
export const controlJobId = (job: ControlJob) => (job.kind === 'wake' ? `w.${job.runId}.${job.nodeId}` : `d.${job.runId}`);

/** BullMQ priority: 1 is highest; runs use 1..10 and BullMQ treats 0 as "no priority". */
export const jobPriority = (runPriority: number) => runPriority;

/** How long finished jobs stay visible in Bull Board; Postgres keeps the real history. */
export const KEEP_COMPLETED = { age: 3600, count: 1000 };
export const KEEP_FAILED = { age: 7 * 24 * 3600, count: 5000 };
