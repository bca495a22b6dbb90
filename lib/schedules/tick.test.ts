import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertSchedule, type ScheduleFields } from '../../db/schedules.js';
import { backends, startStack, type TestStack } from '../../test/stack.js';
import { SCHEDULE_QUEUE } from '../jobs.js';
import { reconcileSchedulers } from './sync.js';
import { fireTick, type Tick } from './tick.js';

const settings = { misfireGraceMs: 2000 };

describe.each(backends())('schedule ticks and reconciliation on the %s backend', (backend) => {
  let stack: TestStack;
  let workspaceId: string;
  let workflowId: string;
  const schedule = async (f: Partial<ScheduleFields> = {}) =>
    (await insertSchedule(stack.db, workspaceId, { workflowId, cron: '*/1 * * * * *', timezone: 'UTC', input: { from: 'cron' }, enabled: true, overlap: 'allow', catchUp: 'none', ...f })).id;
  const tick = (scheduleId: string, fireTime: Date, firstDelivery = true): Tick => ({ scheduleId, fireTime, firstDelivery });
  const runsOf = (scheduleId: string) => stack.db.selectFrom('runs').selectAll().where('schedule_id', '=', scheduleId).orderBy('scheduled_for').execute();
  const second = () => new Date(Math.floor(Date.now() / 1000) * 1000);

  beforeAll(async () => {
    // No workers: runs stay running, which is what the overlap cases need.
    stack = await startStack({ backend, workers: false });
    const wf = await stack.request('POST', '/v1/workflows', { body: { name: 'ticked', nodes: [{ id: 'a', type: 'noop' }] } });
    workflowId = wf.body.id;
    workspaceId = (await stack.db.selectFrom('workflows').select('workspace_id').where('id', '=', workflowId).executeTakeFirstOrThrow()).workspace_id;
  });
  afterAll(() => stack.close());

  it('makes one run per tick, however many deliveries of it race', async () => {
    const id = await schedule();
    const at = second();
    const outcomes = await Promise.all(Array.from({ length: 6 }, () => fireTick(stack.engine, tick(id, at), settings)));
    expect(outcomes.filter((o) => o === 'started')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'duplicate')).toHaveLength(5);
    expect(await fireTick(stack.engine, tick(id, at, false), settings)).toBe('duplicate');
    const runs = await runsOf(id);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ trigger_type: 'schedule', input: { from: 'cron' }, scheduled_for: at, exclusive_key: null });
    expect(runs[0]!.trigger).toEqual({ type: 'schedule', scheduleId: id, firedAt: at.toISOString() });
  });

  it('catchUp "none" drops a tick first delivered past the grace; a redelivery or "latest" still runs it, marked', async () => {
    const none = await schedule();
    const latest = await schedule({ catchUp: 'latest' });
    const old = new Date(second().getTime() - 10_000);
    expect(await fireTick(stack.engine, tick(none, old), settings)).toBe('missed');
    expect(await runsOf(none)).toHaveLength(0);
    // On time within the grace: not missed.
    expect(await fireTick(stack.engine, tick(none, new Date(Date.now() - 500)), settings)).toBe('started');
    // A stalled tick redelivered late was on time for the scheduler that died with it.
    expect(await fireTick(stack.engine, tick(none, old, false), settings)).toBe('started');
    expect(await fireTick(stack.engine, tick(latest, old), settings)).toBe('started');
    expect((await runsOf(latest))[0]!.trigger).toMatchObject({ catchUp: true });
  });

  it('drops ticks of deleted, disabled and archived schedules', async () => {
    const disabled = await schedule({ enabled: false });
    expect(await fireTick(stack.engine, tick(disabled, second()), settings)).toBe('inactive');
    expect(await fireTick(stack.engine, tick('00000000-0000-4000-8000-000000000000', second()), settings)).toBe('inactive');
    const wf = await stack.request('POST', '/v1/workflows', { body: { name: 'archived', nodes: [{ id: 'a', type: 'noop' }] } });
    const orphan = (await insertSchedule(stack.db, workspaceId, { workflowId: wf.body.id, cron: '* * * * *', timezone: 'UTC', input: null, enabled: true, overlap: 'allow', catchUp: 'none' })).id;
    await stack.request('DELETE', '/v1/workflows/archived');
    expect(await fireTick(stack.engine, tick(orphan, second()), settings)).toBe('inactive');
    expect(await stack.db.selectFrom('runs').select('id').where('schedule_id', 'in', [disabled, orphan]).execute()).toEqual([]);
  });

  it('overlap "skip" starts nothing while its previous run is active, even for racing late ticks', async () => {
    const id = await schedule({ overlap: 'skip' });
    const base = second().getTime() - 5000;
    const outcomes = await Promise.all([0, 1, 2, 3].map((i) => fireTick(stack.engine, tick(id, new Date(base + i * 1000), false), settings)));
    expect(outcomes.filter((o) => o === 'started')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'skipped_overlap')).toHaveLength(3);
    const [run] = await runsOf(id);
    await stack.db.updateTable('runs').set({ status: 'succeeded', finished_at: new Date() }).where('id', '=', run!.id).execute();
    expect(await fireTick(stack.engine, tick(id, second()), settings)).toBe('started');
  });

  it('overlap "queue" hands the run an exclusive key, so the engine holds it until the previous ends', async () => {
    const id = await schedule({ overlap: 'queue' });
    expect(await fireTick(stack.engine, tick(id, second()), settings)).toBe('started');
    expect((await runsOf(id))[0]!.exclusive_key).toBe(`schedule:${id}`);
  });

  it('reconciles job schedulers with Postgres, leaving intact ones alone and re-creating lost ones', async () => {
    await stack.db.deleteFrom('schedules').execute();
    const queue = stack.queues.queue(SCHEDULE_QUEUE);
    const a = await schedule({ cron: '0 * * * *' });
    // "none" for now: a new schedule reconciled a second after its creation would catch that second up.
    const b = await schedule({ cron: '*/1 * * * * *' });
    await queue.upsertJobScheduler('stale-one', { pattern: '0 0 * * *' }, { name: 'tick', data: { scheduleId: 'stale-one' } });

    const first = await reconcileSchedulers(stack.db, stack.queues, stack.log);
    expect(first).toMatchObject({ upserted: 2, removed: 1, unchanged: 0, catchUps: [] });
    expect(await queue.getJobScheduler(a)).toMatchObject({ pattern: '0 * * * *', tz: 'UTC' });
    const nextA = (await queue.getJobScheduler(a))!.next;
    expect(await reconcileSchedulers(stack.db, stack.queues, stack.log)).toMatchObject({ upserted: 0, removed: 0, unchanged: 2 });
    expect((await queue.getJobScheduler(a))!.next).toBe(nextA);

    // A change is pushed; a disabled schedule is taken off the queue.
    await stack.db.updateTable('schedules').set({ cron: '30 * * * *' }).where('id', '=', a).execute();
    expect(await reconcileSchedulers(stack.db, stack.queues, stack.log, { scheduleId: a })).toMatchObject({ upserted: 1, catchUps: [] });
    expect((await queue.getJobScheduler(a))!.pattern).toBe('30 * * * *');
    await stack.db.updateTable('schedules').set({ enabled: false }).where('id', '=', a).execute();
    expect(await reconcileSchedulers(stack.db, stack.queues, stack.log, { scheduleId: a })).toMatchObject({ removed: 1 });
    expect(await queue.getJobScheduler(a)).toBeUndefined();

    // The queue lost b's scheduler (a Redis restarted empty, say) after b went unfired a while.
    await stack.db.updateTable('schedules').set({ catch_up: 'latest', updated_at: new Date(Date.now() - 60_000) }).where('id', '=', b).execute();
    await queue.removeJobScheduler(b);
    const now = new Date();
    const repaired = await reconcileSchedulers(stack.db, stack.queues, stack.log, { now });
    expect(repaired.upserted).toBe(1);
    expect(repaired.catchUps).toEqual([{ scheduleId: b, fireTime: new Date(Math.floor(now.getTime() / 1000) * 1000) }]);
    const next = (await queue.getJobScheduler(b))!.next!;
    expect(['delayed', 'waiting', 'prioritized']).toContain(await (await queue.getJob(`repeat:${b}:${next}`))!.getState());
    // Once a run exists for the missed tick, there is nothing left to catch up.
    await fireTick(stack.engine, { ...repaired.catchUps[0]!, firstDelivery: false }, settings);
    await queue.removeJobScheduler(b);
    expect((await reconcileSchedulers(stack.db, stack.queues, stack.log, { now })).catchUps).toEqual([]);
    await stack.db.deleteFrom('schedules').execute();
    expect(await reconcileSchedulers(stack.db, stack.queues, stack.log)).toMatchObject({ removed: 1 });
  });

  // An evicting Redis (maxmemory-policy other than noeviction, which we warn about) can drop a
  // job's hash while its scheduler stays; the PostgreSQL backend has no such loss.
  if (backend === 'redis') it('re-creates a job scheduler that is still there but whose next tick Redis evicted', async () => {
    await stack.db.deleteFrom('schedules').execute();
    const queue = stack.queues.queue(SCHEDULE_QUEUE);
    const id = await schedule({ cron: '0 * * * *' });
    await reconcileSchedulers(stack.db, stack.queues, stack.log);
    const before = (await queue.getJobScheduler(id))!.next!;
    const redis = new Redis(stack.config.REDIS_URL!);
    try {
      expect(await redis.del(`${stack.config.QUEUE_PREFIX}:${SCHEDULE_QUEUE}:repeat:${id}:${before}`)).toBe(1);
    } finally {
      redis.disconnect();
    }
    expect(await queue.getJob(`repeat:${id}:${before}`)).toBeUndefined();
    expect(await queue.getJobScheduler(id)).toBeDefined();

    expect(await reconcileSchedulers(stack.db, stack.queues, stack.log)).toMatchObject({ upserted: 1, unchanged: 0 });
    const next = (await queue.getJobScheduler(id))!.next!;
    expect(['delayed', 'waiting', 'prioritized']).toContain(await (await queue.getJob(`repeat:${id}:${next}`))!.getState());
    // Intact again: the next pass leaves it alone.
    expect(await reconcileSchedulers(stack.db, stack.queues, stack.log)).toMatchObject({ upserted: 0, unchanged: 1 });
    await stack.db.deleteFrom('schedules').execute();
  });
});
