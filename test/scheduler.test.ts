import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { insertSchedule, notifyScheduleChanged } from '../db/schedules.js';
import { SCHEDULE_QUEUE } from '../lib/jobs.js';
import { ENTRIES, startProcess, type AppProcess } from './process.js';
import { backends, startStack, type TestStack } from './stack.js';
import { startTargetServer, type TargetServer } from './target-server.js';

/**
 * Real scheduler processes against one database and queue: ticks fire exactly once however many
 * run, survive a SIGKILL and a full outage, and follow the overlap and catch-up policies.
 */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const SECOND = 1000;

interface TickRun {
  id: string;
  scheduled_for: Date;
  created_at: Date;
  finished_at: Date | null;
  status: string;
  trigger: { [k: string]: unknown };
}

describe.each(backends())('schedulers on the %s backend', (backend) => {
  let stack: TestStack;
  let target: TargetServer;
  const running: AppProcess[] = [];

  const startSchedulers = async (n: number, env: Record<string, string> = {}) => {
    const procs = Array.from({ length: n }, () => startProcess(ENTRIES.scheduler, { ...stack.env, SHUTDOWN_GRACE_MS: '5000', ...env }));
    running.push(...procs);
    await Promise.all(procs.map((p) => p.waitFor(/scheduler started/, 45_000)));
    return procs;
  };
  const stopAll = async (procs: AppProcess[]) => {
    const results = await Promise.all(procs.map((p) => p.stop('SIGTERM', 10_000)));
    for (const r of results) expect(r.code).toBe(0);
  };
  const createSchedule = async (body: Record<string, unknown>) => {
    const res = await stack.request('POST', '/v1/schedules', { body: { cron: '*/1 * * * * *', ...body } });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body.id as string;
  };
  const disable = async (id: string) => expect((await stack.request('PATCH', `/v1/schedules/${id}`, { body: { enabled: false } })).status).toBe(200);
  const runsOf = async (scheduleId: string): Promise<TickRun[]> =>
    (await stack.db
      .selectFrom('runs')
      .select(['id', 'scheduled_for', 'created_at', 'finished_at', 'status', 'trigger'])
      .where('schedule_id', '=', scheduleId)
      .orderBy('scheduled_for')
      .execute()) as TickRun[];
  /** Seconds between the first and last tick that have no run: empty when none was lost. */
  const gaps = (runs: TickRun[]) => {
    const seen = new Set(runs.map((r) => r.scheduled_for.getTime()));
    const missing: string[] = [];
    for (let t = runs[0]!.scheduled_for.getTime(); t <= runs[runs.length - 1]!.scheduled_for.getTime(); t += SECOND) {
      if (!seen.has(t)) missing.push(new Date(t).toISOString());
    }
    return missing;
  };

  beforeAll(async () => {
    stack = await startStack({ backend, env: { HTTP_ALLOW_HOSTS: '127.0.0.1' } });
    target = await startTargetServer();
    for (const body of [
      { name: 'beat', nodes: [{ id: 'a', type: 'noop' }] },
      { name: 'slow', nodes: [{ id: 'call', type: 'http.request', params: { method: 'GET', url: `${target.url}/slow?ms=2500` } }] },
    ]) {
      expect((await stack.request('POST', '/v1/workflows', { body })).status).toBe(201);
    }
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((p) => p.stop('SIGKILL')));
  });
  afterAll(async () => {
    await target?.close();
    await stack?.close();
  });

  it('three schedulers, one SIGKILLed mid-run: exactly one run per second, and disabling stops them at once', async () => {
    // What this test is about is one run per tick across schedulers and a SIGKILL, not the misfire
    // grace: on a loaded CI machine ticks were taken over 2 s late (one logged at 2.03 s) and one
    // tick left no run, most likely dropped as missed by the default 2 s grace. The outage test
    // below covers the grace; a failure here now prints every scheduler's recent tick outcomes.
    const schedulers = await startSchedulers(3, { LOG_LEVEL: 'debug', SCHEDULE_MISFIRE_GRACE_MS: '6000' });
    const id = await createSchedule({ workflow: 'beat' });
    const createdAt = Date.now();
    await sleep(5 * SECOND);
    await schedulers[0]!.stop('SIGKILL');
    await sleep(5.5 * SECOND);
    await disable(id);
    const disabledAt = Date.now();

    // A tick the killed process held is handed on when its lock expires (about 10 s at most).
    let runs = await runsOf(id);
    for (const deadline = Date.now() + 15 * SECOND; gaps(runs).length > 0 && Date.now() < deadline; runs = await runsOf(id)) await sleep(500);
    const tickLines = (p: (typeof schedulers)[number]) => p.lines.filter((l) => l.includes('schedule tick')).slice(-12).join('\n');
    expect(gaps(runs), schedulers.map(tickLines).join('\n---\n')).toEqual([]);
    expect(runs.length).toBeGreaterThanOrEqual(8);
    expect(runs[0]!.scheduled_for.getTime()).toBeLessThanOrEqual(createdAt + 2 * SECOND);
    expect(runs[runs.length - 1]!.scheduled_for.getTime()).toBeGreaterThanOrEqual(disabledAt - 2.5 * SECOND);
    expect(runs[runs.length - 1]!.scheduled_for.getTime()).toBeLessThanOrEqual(disabledAt);
    for (const run of runs) expect(run.trigger).toEqual({ type: 'schedule', scheduleId: id, firedAt: run.scheduled_for.toISOString() });
    // The queue, too, handed each tick to one scheduler: a second delivery only for a tick the killed one held.
    const outcomes = schedulers.flatMap((p) => p.lines.filter((l) => l.includes(id) && l.includes('schedule tick')).map((l) => JSON.parse(l).outcome as string));
    expect(outcomes.filter((o) => o === 'started')).toHaveLength(runs.length);
    expect(outcomes.filter((o) => o === 'duplicate').length).toBeLessThanOrEqual(1);

    await sleep(2 * SECOND);
    expect(await runsOf(id)).toHaveLength(runs.length);
    await stopAll(schedulers.slice(1));
  }, 90_000);

  it('a 5 s outage of every scheduler: catchUp "latest" makes one catch-up run, "none" makes none; restarting loses nothing', async () => {
    let schedulers = await startSchedulers(2);
    const latest = await createSchedule({ workflow: 'beat', catchUp: 'latest' });
    const none = await createSchedule({ workflow: 'beat', catchUp: 'none' });
    await sleep(3 * SECOND);
    await stopAll(schedulers);
    const downAt = Date.now();
    const lastBefore = async (id: string) => Math.max(...(await runsOf(id)).map((r) => r.scheduled_for.getTime()));
    const [lastLatest, lastNone] = [await lastBefore(latest), await lastBefore(none)];
    expect(lastLatest).toBeGreaterThan(downAt - 3 * SECOND);
    await sleep(5 * SECOND);

    schedulers = await startSchedulers(2);
    const upAt = Date.now();
    await sleep(3.5 * SECOND);
    await disable(latest);
    await disable(none);
    await stopAll(schedulers);

    const after = async (id: string, last: number) => (await runsOf(id)).filter((r) => r.scheduled_for.getTime() > last);
    const latestAfter = await after(latest, lastLatest);
    const duringOutage = latestAfter.filter((r) => r.scheduled_for.getTime() < upAt - SECOND);
    expect(duringOutage).toHaveLength(1);
    expect(duringOutage[0]!.trigger).toMatchObject({ catchUp: true });
    expect(duringOutage[0]!.scheduled_for.getTime()).toBe(lastLatest + SECOND);
    expect(latestAfter.filter((r) => r.trigger.catchUp)).toHaveLength(1);

    const noneAfter = await after(none, lastNone);
    expect(noneAfter.filter((r) => r.scheduled_for.getTime() < upAt - SECOND)).toEqual([]);
    expect(noneAfter.filter((r) => r.trigger.catchUp)).toEqual([]);
    // Not lost either: both fire every second again after the restart.
    for (const resumed of [latestAfter, noneAfter]) {
      const regular = resumed.filter((r) => !r.trigger.catchUp);
      expect(regular.length).toBeGreaterThanOrEqual(2);
      expect(gaps(regular)).toEqual([]);
    }
  }, 90_000);

  it('overlap "skip" with a slow workflow: no run starts while the previous runs; a schedule written straight to Postgres is reconciled at start and on NOTIFY', async () => {
    // Written to Postgres behind the API's back: the scheduler's reconciliation at start puts it on the queue...
    const wf = await stack.db.selectFrom('workflows').select(['id', 'workspace_id']).where('name', '=', 'slow').executeTakeFirstOrThrow();
    const { id } = await insertSchedule(stack.db, wf.workspace_id, { workflowId: wf.id, cron: '*/1 * * * * *', timezone: 'UTC', input: null, enabled: true, overlap: 'skip', catchUp: 'none' });
    const [scheduler] = await startSchedulers(1);
    await sleep(7 * SECOND);
    // ...and a change NOTIFYed by any writer takes it off again.
    await stack.db.updateTable('schedules').set({ enabled: false }).where('id', '=', id).execute();
    await notifyScheduleChanged(stack.db, id);
    const queue = stack.queues.queue(SCHEDULE_QUEUE);
    for (const deadline = Date.now() + 5 * SECOND; (await queue.getJobScheduler(id)) && Date.now() < deadline; ) await sleep(100);
    expect(await queue.getJobScheduler(id)).toBeUndefined();
    await stopAll([scheduler!]);
    let runs = await runsOf(id);
    for (const deadline = Date.now() + 10 * SECOND; runs.some((r) => !r.finished_at) && Date.now() < deadline; runs = await runsOf(id)) await sleep(200);

    expect(runs.length).toBeGreaterThanOrEqual(2);
    expect(runs.length).toBeLessThanOrEqual(4);
    for (const run of runs) expect(run.status).toBe('succeeded');
    for (let i = 1; i < runs.length; i++) expect(runs[i]!.created_at.getTime()).toBeGreaterThanOrEqual(runs[i - 1]!.finished_at!.getTime());
    const skipped = scheduler!.lines.filter((l) => l.includes('schedule tick skipped overlap') && l.includes(id));
    expect(skipped.length).toBeGreaterThanOrEqual(3);
  }, 60_000);
});
