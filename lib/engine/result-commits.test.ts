import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimNode } from '../../db/node-runs.js';
import { backends, startStack, waitForRun, type TestStack } from '../../test/stack.js';
import { cancelRun } from './cancel.js';
import { claim as claimBatched } from './claim-commits.js';
import { commitResult, RESULT_BATCHES_IN_FLIGHT } from './result-commits.js';
import { sweep } from './sweeper.js';
import { afterCommitsSettled } from './tx.js';
import { DEFAULT_NODE_QUEUE, nodeJobId } from '../jobs.js';

/**
 * The group commit of node results under contention: results that meet in one batch each keep
 * their own conditional update, their run's order, and their own fate.
 */
describe.each(backends())('group-committed results on the %s backend', (backend) => {
  let stack: TestStack;
  const batches: number[] = [];

  beforeAll(async () => {
    stack = await startStack({ backend, workers: false });
    stack.engine.hooks.resultsBatched = (n) => void batches.push(n);
  });
  afterAll(async () => {
    await stack?.close();
  });

  async function createWorkflow(definition: Record<string, unknown>) {
    const res = await stack.request('POST', '/v1/workflows', { body: definition });
    expect(res.status).toBe(201);
  }
  async function startRun(name: string): Promise<string> {
    const res = await stack.request('POST', `/v1/workflows/${name}/runs`, { body: {} });
    expect(res.status).toBe(202);
    return res.body.id;
  }
  const claim = async (runId: string, nodeId: string) => (await claimNode(stack.db, runId, nodeId, 30_000))!.attempts;
  const nodes = async (runId: string) =>
    Object.fromEntries((await stack.db.selectFrom('node_runs').select(['node_id', 'status']).where('run_id', '=', runId).execute()).map((r) => [r.node_id, r.status]));
  /**
   * Results ready to submit, one per batch a process keeps in flight: results submitted while
   * they travel share the next batch.
   */
  const blockerResult = async () => {
    const ready: { runId: string; attempt: number }[] = [];
    for (let i = 0; i < RESULT_BATCHES_IN_FLIGHT; i++) {
      const runId = await startRun('blocker');
      ready.push({ runId, attempt: await claim(runId, 'x') });
    }
    return () => Promise.all(ready.map((b) => commitResult(stack.engine, b.runId, 'x', { status: 'running', attempt: b.attempt }, { status: 'succeeded', output: 1 })));
  };

  beforeAll(async () => {
    await createWorkflow({ name: 'blocker', nodes: [{ id: 'x', type: 'noop' }] });
    await createWorkflow({
      name: 'diamond',
      nodes: [{ id: 'a', type: 'noop' }, { id: 'b', type: 'noop' }, { id: 'join', type: 'noop' }],
      edges: [{ from: 'a', to: 'join' }, { from: 'b', to: 'join' }],
    });
    await createWorkflow({ name: 'pair', nodes: [{ id: 'a', type: 'noop' }, { id: 'then', type: 'noop' }], edges: [{ from: 'a', to: 'then' }] });
  });

  it('two results of one run in one batch: applied in order, the join queued once', async () => {
    const runId = await startRun('diamond');
    const [a, b] = [await claim(runId, 'a'), await claim(runId, 'b')];
    const before = batches.length;
    const blocker = (await blockerResult())();
    const [ra, rb] = await Promise.all([
      commitResult(stack.engine, runId, 'a', { status: 'running', attempt: a }, { status: 'succeeded', output: 'A' }),
      commitResult(stack.engine, runId, 'b', { status: 'running', attempt: b }, { status: 'succeeded', output: 'B' }),
    ]);
    await blocker;
    expect(batches.slice(before)).toContain(2);
    expect([ra.recorded, rb.recorded]).toEqual([true, true]);
    expect(await nodes(runId)).toEqual({ a: 'succeeded', b: 'succeeded', join: 'queued' });
    const events = await stack.db.selectFrom('run_events').select(['type', 'node_id']).where('run_id', '=', runId).orderBy('id').execute();
    expect(events.filter((e) => e.node_id === 'join')).toEqual([{ type: 'node.queued', node_id: 'join' }]);
    expect(events.filter((e) => e.type === 'node.succeeded').map((e) => e.node_id)).toEqual(['a', 'b']);
  });

  it("a batch's events, written by one insert, each land on their own run, in their run's order", async () => {
    const runs = [await startRun('pair'), await startRun('pair'), await startRun('blocker')];
    const attempts = [await claim(runs[0]!, 'a'), await claim(runs[1]!, 'a'), await claim(runs[2]!, 'x')];
    const before = batches.length;
    const blocker = (await blockerResult())();
    await Promise.all([
      commitResult(stack.engine, runs[0]!, 'a', { status: 'running', attempt: attempts[0]! }, { status: 'succeeded', output: 0 }),
      commitResult(stack.engine, runs[1]!, 'a', { status: 'running', attempt: attempts[1]! }, { status: 'failed', error: { code: 'boom', message: 'no' } }),
      commitResult(stack.engine, runs[2]!, 'x', { status: 'running', attempt: attempts[2]! }, { status: 'succeeded', output: 2 }),
    ]);
    await blocker;
    expect(batches.slice(before)).toContain(3);
    const events = async (runId: string) =>
      (await stack.db.selectFrom('run_events').select(['type', 'node_id']).where('run_id', '=', runId).where('type', '<>', 'node.started').orderBy('id').execute())
        .map((e) => `${e.type}${e.node_id ? ` ${e.node_id}` : ''}`);
    expect(await events(runs[0]!)).toEqual(['run.queued', 'run.started', 'node.queued a', 'node.succeeded a', 'node.queued then']);
    expect(await events(runs[1]!)).toEqual(['run.queued', 'run.started', 'node.queued a', 'node.failed a', 'node.skipped then', 'run.failed']);
    expect(await events(runs[2]!)).toEqual(['run.queued', 'run.started', 'node.queued x', 'node.succeeded x', 'run.succeeded']);
  });

  it("a result returns once committed; its successors' jobs follow, and afterCommitsSettled waits for them", async () => {
    const runId = await startRun('pair');
    const attempt = await claim(runId, 'a');
    const nodesQueue = stack.engine.queues.queue(DEFAULT_NODE_QUEUE);
    const addBulk = nodesQueue.addBulk.bind(nodesQueue);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    nodesQueue.addBulk = async (jobs) => (await held, addBulk(jobs));
    try {
      // The successor's job is held back: the result is recorded and answered all the same.
      const recorded = await commitResult(stack.engine, runId, 'a', { status: 'running', attempt }, { status: 'succeeded', output: 1 });
      expect(recorded.recorded).toBe(true);
      expect((await nodes(runId)).then).toBe('queued');
      let settled = false;
      const waiting = afterCommitsSettled(stack.engine).then(() => (settled = true));
      await new Promise((r) => setTimeout(r, 50));
      expect(settled).toBe(false);
      release();
      await waiting;
      expect(await nodesQueue.getJob(nodeJobId(runId, 'then'))).toBeTruthy();
    } finally {
      nodesQueue.addBulk = addBulk;
      release();
    }
  });

  it('queue work that fails after a commit is logged, not thrown: the result stands and the sweeper adds the missing job', async () => {
    const runId = await startRun('pair');
    const attempt = await claim(runId, 'a');
    const nodesQueue = stack.engine.queues.queue(DEFAULT_NODE_QUEUE);
    const addBulk = nodesQueue.addBulk.bind(nodesQueue);
    nodesQueue.addBulk = async () => {
      throw new Error('Redis went away');
    };
    try {
      expect((await commitResult(stack.engine, runId, 'a', { status: 'running', attempt }, { status: 'succeeded', output: 1 })).recorded).toBe(true);
      await afterCommitsSettled(stack.engine);
    } finally {
      nodesQueue.addBulk = addBulk;
    }
    expect(await nodesQueue.getJob(nodeJobId(runId, 'then'))).toBeFalsy();
    expect((await nodes(runId)).then).toBe('queued');
    expect((await sweep(stack.engine, { graceMs: 0 })).reenqueued).toBeGreaterThanOrEqual(1);
    expect(await nodesQueue.getJob(nodeJobId(runId, 'then'))).toBeTruthy();
  });

  it('claims in one batch: a node delivered twice is claimed once, each run locked once', async () => {
    const runs = [await startRun('diamond'), await startRun('diamond')];
    const blockerRuns = [await startRun('blocker'), await startRun('blocker'), await startRun('blocker')];
    const first = Promise.all(blockerRuns.map((r) => claimBatched(stack.engine, r, 'x')));
    const claims = await Promise.all([
      claimBatched(stack.engine, runs[0]!, 'a'),
      claimBatched(stack.engine, runs[0]!, 'a'),
      claimBatched(stack.engine, runs[1]!, 'b'),
      claimBatched(stack.engine, runs[0]!, 'b'),
    ]);
    expect((await first).map((c) => c?.attempts)).toEqual([1, 1, 1]);
    expect(claims.map((c) => c?.attempts)).toEqual([1, undefined, 1, 1]);
    expect(claims[0]).toMatchObject({ type: 'noop', version: 1 });
    expect(await nodes(runs[0]!)).toEqual({ a: 'running', b: 'running', join: 'pending' });
    const started = await stack.db.selectFrom('run_events').select('node_id').where('run_id', '=', runs[0]!).where('type', '=', 'node.started').execute();
    expect(started.map((e) => e.node_id).sort()).toEqual(['a', 'b']);
  });

  it('a duplicate delivery inside a batch records nothing twice', async () => {
    const runId = await startRun('pair');
    const attempt = await claim(runId, 'a');
    const blocker = (await blockerResult())();
    const twice = await Promise.all([1, 2].map(() => commitResult(stack.engine, runId, 'a', { status: 'running', attempt }, { status: 'succeeded', output: 'once' })));
    await blocker;
    expect(twice.map((r) => r.recorded)).toEqual([true, false]);
    const events = await stack.db.selectFrom('run_events').select(['type', 'node_id']).where('run_id', '=', runId).where('node_id', '=', 'a').execute();
    expect(events.filter((e) => e.type === 'node.succeeded')).toHaveLength(1);
    expect(await nodes(runId)).toEqual({ a: 'succeeded', then: 'queued' });
  });

  it('a result PostgreSQL refuses fails alone: its batch neighbours are recorded', async () => {
    await sql`create function refuse_in_batch() returns trigger language plpgsql as $$
      begin raise exception 'refused in a batch' using errcode = '22023'; end $$`.execute(stack.db);
    await sql`create trigger refuse_in_batch before update on node_runs for each row
      when (new.node_id = 'a' and new.output = '"poison"'::jsonb) execute function refuse_in_batch()`.execute(stack.db);
    const runs = [await startRun('pair'), await startRun('pair'), await startRun('pair')];
    const attempts = await Promise.all(runs.map((r) => claim(r, 'a')));
    const blocker = (await blockerResult())();
    const outcomes = await Promise.allSettled(
      runs.map((r, i) => commitResult(stack.engine, r, 'a', { status: 'running', attempt: attempts[i]! }, { status: 'succeeded', output: i === 1 ? 'poison' : 'fine' })),
    );
    await blocker;
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((outcomes[1] as PromiseRejectedResult).reason).toMatchObject({ code: '22023' });
    expect(await nodes(runs[0]!)).toEqual({ a: 'succeeded', then: 'queued' });
    expect(await nodes(runs[1]!)).toEqual({ a: 'running', then: 'pending' });
    expect(await nodes(runs[2]!)).toEqual({ a: 'succeeded', then: 'queued' });
  });

  it('a cancel racing a batch: whichever commits first, the run ends cancelled with nothing left open', async () => {
    for (let i = 0; i < 5; i++) {
      const runId = await startRun('pair');
      const attempt = await claim(runId, 'a');
      const blocker = (await blockerResult())();
      const [, cancelled] = await Promise.all([
        commitResult(stack.engine, runId, 'a', { status: 'running', attempt }, { status: 'succeeded', output: i }),
        cancelRun(stack.engine, runId),
      ]);
      await blocker;
      expect(cancelled).toMatchObject({ cancelled: true });
      const states = await nodes(runId);
      expect(Object.values(states).every((s) => ['succeeded', 'cancelled'].includes(s))).toBe(true);
      const run = await stack.db.selectFrom('runs').select('status').where('id', '=', runId).executeTakeFirstOrThrow();
      expect(run.status).toBe('cancelled');
    }
  });

  it('parents and children finishing together under real workers: every run completes, once', async () => {
    await createWorkflow({ name: 'kid', nodes: [{ id: 'k', type: 'transform', params: { value: '{{ input.n }}' } }] });
    await createWorkflow({
      name: 'parent',
      nodes: [
        { id: 'call', type: 'workflow.run', params: { workflow: 'kid', input: { n: '{{ input.n }}' } } },
        { id: 'side', type: 'noop' },
        { id: 'end', type: 'transform', params: { value: '{{ nodes.call.output.k }}' } },
      ],
      edges: [{ from: 'call', to: 'end' }, { from: 'side', to: 'end' }],
    });
    const before = batches.length;
    const started = await Promise.all(Array.from({ length: 30 }, (_, n) => stack.request('POST', '/v1/workflows/parent/runs', { body: { input: { n } } })));
    stack.startWorkers(20);
    const runs = await Promise.all(started.map((s) => waitForRun(stack, s.body.id)));
    expect(runs.map((r) => r.status)).toEqual(runs.map(() => 'succeeded'));
    expect(runs.map((r) => r.output.end)).toEqual(runs.map((_, n) => n));
    expect(Math.max(...batches.slice(before))).toBeGreaterThan(1);
    const ended = await stack.db.selectFrom('run_events').select(['run_id']).where('type', '=', 'run.succeeded').where('run_id', 'in', runs.map((r) => r.id)).execute();
    expect(ended).toHaveLength(30);
  }, 60_000);

  it('the sweeper completes a parent node whose child ended without completing it (a crash between the two)', async () => {
    for (const w of stack.workers.splice(0)) await w.close();
    const parentId = await startRun('parent');
    const attempt = await claim(parentId, 'call');
    // The child ran as a plain run: its end completes no parent, as after a crash right after it.
    const childId = (await stack.request('POST', '/v1/workflows/kid/runs', { body: { input: { n: 41 } } })).body.id;
    await stack.db.updateTable('node_runs').set({ status: 'waiting', child_run_id: childId, waiting_for: `child run ${childId}` })
      .where('run_id', '=', parentId).where('node_id', '=', 'call').where('attempts', '=', attempt).execute();
    stack.startWorkers(5);
    expect((await waitForRun(stack, childId)).status).toBe('succeeded');
    expect((await nodes(parentId)).call).toBe('waiting');
    const swept = await sweep(stack.engine, { graceMs: 60_000 });
    expect(swept.parents).toBe(1);
    const parent = await waitForRun(stack, parentId);
    expect(parent).toMatchObject({ status: 'succeeded', output: { end: 41 } });
    expect((await sweep(stack.engine, { graceMs: 60_000 })).parents).toBe(0);
  }, 30_000);
});
