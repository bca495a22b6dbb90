import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, runToCompletion, type TestStack } from '../test/stack.js';
import { pruneFinishedRuns, RETENTION_LOCK_KEY } from './retention.js';

describe('retention pruning', () => {
  let stack: TestStack;
  const count = async (table: 'runs' | 'node_runs' | 'run_events', runIds: string[]) =>
    Number((await stack.db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).where(table === 'runs' ? 'id' : 'run_id', 'in', runIds).executeTakeFirstOrThrow()).n);

  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack.close());

  it('deletes finished runs past the retention period in batches, with their nodes and events, and nothing else', async () => {
    const def = { name: 'prunable', nodes: [{ id: 'a', type: 'noop' }, { id: 'b', type: 'noop' }], edges: [{ from: 'a', to: 'b' }] };
    const finished = [];
    for (let i = 0; i < 7; i++) finished.push((await runToCompletion(stack, def)).id as string);
    const [recent, ...old] = finished;
    await stack.db.updateTable('runs').set({ finished_at: sql<Date>`now() - interval '40 days'` }).where('id', 'in', old).execute();
    // Recent runs are kept, finished or not: retention counts from finished_at.
    const live = await stack.request('POST', '/v1/workflows/prunable/runs', { body: {} });
    expect(await count('node_runs', old)).toBe(12);
    expect(await count('run_events', old)).toBeGreaterThan(12);

    const result = await pruneFinishedRuns(stack.db, { olderThanDays: 30, batchSize: 4 });
    expect(result).toEqual({ locked: true, deleted: 6, batches: 2 });
    expect(await count('runs', old)).toBe(0);
    expect(await count('node_runs', old)).toBe(0);
    expect(await count('run_events', old)).toBe(0);
    expect(await count('runs', [recent!, live.body.id])).toBe(2);
    expect(await pruneFinishedRuns(stack.db, { olderThanDays: 30 })).toMatchObject({ deleted: 0 });
  });

  it('stops after maxBatches, and skips the pass while another process holds the lock', async () => {
    const def = { name: 'bounded', nodes: [{ id: 'a', type: 'noop' }] };
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await runToCompletion(stack, def)).id as string);
    await stack.db.updateTable('runs').set({ finished_at: sql<Date>`now() - interval '40 days'` }).where('id', 'in', ids).execute();

    await stack.db.connection().execute(async (other) => {
      await sql`select pg_advisory_lock(${RETENTION_LOCK_KEY})`.execute(other);
      try {
        expect(await pruneFinishedRuns(stack.db, { olderThanDays: 30 })).toEqual({ locked: false, deleted: 0, batches: 0 });
      } finally {
        await sql`select pg_advisory_unlock(${RETENTION_LOCK_KEY})`.execute(other);
      }
    });
    expect(await count('runs', ids)).toBe(3);
    expect(await pruneFinishedRuns(stack.db, { olderThanDays: 30, batchSize: 1, maxBatches: 2 })).toEqual({ locked: true, deleted: 2, batches: 2 });
    expect(await pruneFinishedRuns(stack.db, { olderThanDays: 30, batchSize: 1, maxBatches: 2 })).toMatchObject({ deleted: 1 });
  });
});
