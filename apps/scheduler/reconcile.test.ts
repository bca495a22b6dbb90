import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCHEDULE_QUEUE } from '../../lib/jobs.js';
import { removeScheduler } from '../../lib/schedules/sync.js';
import { startStack, type TestStack } from '../../test/stack.js';
import { FULL_RECONCILE_MS, startReconciler, type Reconciler } from './reconcile.js';

describe('schedule reconciler: its LISTEN connection lost and back', () => {
  let stack: TestStack;
  let reconciler: Reconciler;

  beforeAll(async () => {
    stack = await startStack({ backend: 'redis', workers: false });
    await stack.request('POST', '/v1/workflows', { body: { name: 'nightly', nodes: [{ id: 'a', type: 'noop' }] } });
    reconciler = startReconciler(stack.engine, { databaseUrl: stack.config.DATABASE_URL, settings: { misfireGraceMs: 2_000 } });
    await reconciler.ready;
  });
  afterAll(async () => {
    await reconciler.close();
    await stack.close();
  });

  const listenerPid = async () => {
    const { rows } = await sql<{ pid: number }>`
      select pid from pg_stat_activity where datname = current_database() and application_name = 'conveyor-schedule-listener'`.execute(stack.db);
    return rows[0]?.pid;
  };

  it('reconciles everything once it listens again, not FULL_RECONCILE_MS later', async () => {
    const created = await stack.request('POST', '/v1/schedules', { body: { workflow: 'nightly', cron: '0 3 * * *' } });
    expect(created.status).toBe(201);
    const queue = stack.queues.queue(SCHEDULE_QUEUE);
    expect(await queue.getJobScheduler(created.body.id)).toBeTruthy();
    let pid: number | undefined;
    for (const deadline = Date.now() + 5_000; !(pid = await listenerPid()) && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 50));
    expect(pid).toBeTypeOf('number');

    // Drift no NOTIFY will report (a scheduler lost with the queue), then the connection drops.
    await removeScheduler(stack.queues, created.body.id);
    await sql`select pg_terminate_backend(${pid!})`.execute(stack.db);
    const started = Date.now();
    for (const deadline = started + 5_000; !(await queue.getJobScheduler(created.body.id)) && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 50));
    expect(await queue.getJobScheduler(created.body.id)).toMatchObject({ pattern: '0 3 * * *' });
    expect(Date.now() - started).toBeLessThan(FULL_RECONCILE_MS / 3);
    expect(await listenerPid()).not.toBe(pid);
  });
});
