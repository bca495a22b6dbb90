import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobQueue, QueueBackend } from '../queue.js';
import { nodeJobId } from '../jobs.js';
import { startStack, waitForRun, type TestStack } from '../../test/stack.js';
import { SWEEP_LOCK_KEY, sweep } from './sweeper.js';

/**
 * The sweep reads what is due under its advisory lock and commits before the first queue call:
 * while it talks to the queue, no transaction of its own is open and the lock is free.
 */
describe('the sweeper talks to the queue only after its transaction committed', () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await startStack({ backend: 'redis', workers: false });
    await stack.request('POST', '/v1/workflows', { body: { name: 'swept', nodes: [{ id: 'a', type: 'noop' }, { id: 'b', type: 'noop' }] } });
  });
  afterAll(async () => {
    await stack.close();
  });

  /** The engine's queues, with `before` called ahead of every getJob and add/addBulk. */
  function watchedQueues(before: (call: string) => Promise<void>): QueueBackend {
    const real = stack.engine.queues;
    const wrap = (q: JobQueue): JobQueue =>
      new Proxy(q, {
        get(target, prop, receiver) {
          const value = Reflect.get(target, prop, receiver);
          if (typeof value !== 'function' || !['getJob', 'add', 'addBulk'].includes(String(prop))) return typeof value === 'function' ? value.bind(target) : value;
          return async (...args: unknown[]) => {
            await before(String(prop));
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        },
      });
    return new Proxy(real, { get: (target, prop) => (prop === 'queue' ? (name: string) => wrap(target.queue(name)) : Reflect.get(target, prop)) });
  }

  async function lostRun(): Promise<string> {
    const started = await stack.request('POST', '/v1/workflows/swept/runs', { body: {} });
    expect(started.status).toBe(202);
    for (const node of ['a', 'b']) await (await stack.queues.queue('nodes').getJob(nodeJobId(started.body.id, node)))?.remove();
    return started.body.id;
  }

  it('holds neither the lock nor an open transaction across queue calls', async () => {
    const runId = await lostRun();
    const seen: { call: string; lockFree: boolean; openTransactions: number }[] = [];
    const queues = watchedQueues(async (call) => {
      const lock = await sql<{ ok: boolean }>`select pg_try_advisory_lock(${SWEEP_LOCK_KEY}) as ok`.execute(stack.db);
      if (lock.rows[0]!.ok) await sql`select pg_advisory_unlock(${SWEEP_LOCK_KEY})`.execute(stack.db);
      const open = await sql<{ n: number }>`
        select count(*)::int as n from pg_stat_activity
        where datname = current_database() and pid <> pg_backend_pid() and state like 'idle in transaction%'`.execute(stack.db);
      seen.push({ call, lockFree: lock.rows[0]!.ok, openTransactions: open.rows[0]!.n });
    });
    const result = await sweep({ ...stack.engine, queues }, { graceMs: 0 });
    expect(result).toMatchObject({ swept: true, reenqueued: 2 });
    expect(seen.length).toBeGreaterThanOrEqual(4); // a lookup and an add per node
    expect(seen.every((s) => s.lockFree && s.openTransactions === 0)).toBe(true);
    stack.startWorkers();
    expect((await waitForRun(stack, runId)).status).toBe('succeeded');
    for (const w of stack.workers.splice(0)) await w.close();
  });

  it('finds a node again on the next sweep when re-enqueueing it failed', async () => {
    const runId = await lostRun();
    let failed = 0;
    const flaky = watchedQueues(async (call) => {
      if (call === 'addBulk' && failed++ === 0) throw new Error('queue unreachable');
    });
    await expect(sweep({ ...stack.engine, queues: flaky }, { graceMs: 0 })).rejects.toThrow('queue unreachable');
    const again = await sweep(stack.engine, { graceMs: 0 });
    expect(again.swept).toBe(true);
    expect(again.reenqueued).toBeGreaterThanOrEqual(1);
    for (const node of ['a', 'b']) expect(await stack.queues.queue('nodes').getJob(nodeJobId(runId, node))).toBeTruthy();
    // A third sweep finds both jobs in place: nothing doubled.
    expect((await sweep(stack.engine, { graceMs: 0 })).reenqueued).toBe(0);
    stack.startWorkers();
    const run = await waitForRun(stack, runId);
    expect(run.status).toBe('succeeded');
    expect(run.nodes.map((n: { attempts: number }) => n.attempts)).toEqual([1, 1]);
  });
});
