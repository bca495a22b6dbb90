import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRun } from '../../../lib/engine/start-run.js';
import { startStack, type TestStack } from '../../../test/stack.js';

/** Run creations that arrive together share one statement (lib/engine/run-commits.ts). */
describe('POST /runs under concurrency (group commit)', () => {
  let stack: TestStack;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    stack = await startStack({ workers: false });
    for (const body of [
      { name: 'free', nodes: [{ id: 'a', type: 'noop' }, { id: 'b', type: 'noop' }], edges: [{ from: 'a', to: 'b' }] },
      { name: 'single', concurrency: 1, nodes: [{ id: 'a', type: 'noop' }] },
      { name: 'doomed', nodes: [{ id: 'a', type: 'noop' }] },
    ]) {
      const res = await stack.request('POST', '/v1/workflows', { body });
      expect(res.status).toBe(201);
      ids[body.name] = res.body.id;
    }
    expect((await stack.request('DELETE', '/v1/workflows/doomed')).status).toBe(204);
  });
  afterAll(() => stack.close());

  const post = (workflow: string, headers: Record<string, string> = {}, body: unknown = { input: { n: 1 } }) =>
    stack.request('POST', `/v1/workflows/${workflow}/runs`, { body, headers });
  const runsOf = (workflowId: string) => stack.db.selectFrom('runs').selectAll().where('workflow_id', '=', workflowId).execute();

  it('makes one run per Idempotency-Key, answers repeats 200 with it, and starts one run of a concurrency-1 workflow', async () => {
    const requests = [
      ...Array.from({ length: 12 }, (_, i) => ({ kind: 'keyed', key: `k${i % 3}`, res: post('free', { 'idempotency-key': `k${i % 3}` }) })),
      ...Array.from({ length: 12 }, () => ({ kind: 'plain', key: '', res: post('free') })),
      ...Array.from({ length: 6 }, () => ({ kind: 'single', key: '', res: post('single') })),
      ...Array.from({ length: 2 }, () => ({ kind: 'archived', key: '', res: post('doomed') })),
    ];
    const answers = await Promise.all(requests.map(async (r) => ({ ...r, res: await r.res })));

    const keyed = answers.filter((a) => a.kind === 'keyed');
    for (const key of ['k0', 'k1', 'k2']) {
      const same = keyed.filter((a) => a.key === key);
      expect(new Set(same.map((a) => a.res.body.id)).size, key).toBe(1);
      expect(same.map((a) => a.res.status).sort(), key).toEqual([200, 200, 200, 202]);
    }
    for (const a of answers.filter((x) => x.kind === 'plain' || x.kind === 'single')) expect(a.res.status).toBe(202);
    for (const a of answers.filter((x) => x.kind === 'archived')) {
      expect(a.res.status).toBe(404);
      expect(a.res.body.error.code).toBe('not_found');
    }

    const free = await runsOf(ids.free!);
    expect(free).toHaveLength(3 + 12);
    expect(free.every((r) => r.status === 'running')).toBe(true);
    // Every run has its nodes, its events and its audit entry, whichever batch it went in.
    const nodes = await stack.db.selectFrom('node_runs').select(['run_id', 'node_id', 'status']).where('run_id', 'in', free.map((r) => r.id)).execute();
    expect(nodes).toHaveLength(2 * free.length);
    expect(nodes.filter((n) => n.status === 'queued').map((n) => n.node_id)).toEqual(Array(free.length).fill('a'));
    const events = await stack.db.selectFrom('run_events').select(['run_id', 'type']).where('run_id', 'in', free.map((r) => r.id)).orderBy('id').execute();
    for (const run of free) expect(events.filter((e) => e.run_id === run.id).map((e) => e.type)).toEqual(['run.queued', 'run.started', 'node.queued']);
    const audited = await stack.db.selectFrom('audit_log').select('target_id').where('action', '=', 'run.create').where('target_id', 'in', free.map((r) => r.id)).execute();
    expect(audited).toHaveLength(free.length);

    const single = await runsOf(ids.single!);
    expect(single).toHaveLength(6);
    expect(single.filter((r) => r.status === 'running')).toHaveLength(1);
    expect(single.filter((r) => r.status === 'queued')).toHaveLength(5);
    expect(await runsOf(ids.doomed!)).toEqual([]);

    // Each of the 16 runs has its job (2 nodes × …, only the root queued): 15 free + 1 admitted.
    const queued = await stack.queues.queue('nodes').getJobCounts('wait', 'prioritized');
    expect((queued.wait ?? 0) + (queued.prioritized ?? 0)).toBe(free.length + 1);
  });

  it('fails a bad run alone: an archived workflow or a violated constraint in the batch, the others created', async () => {
    const wf = (name: string) => stack.db.selectFrom('workflows').select(['id', 'workspace_id', 'latest_version']).where('name', '=', name).executeTakeFirstOrThrow();
    const free = await wf('free');
    const doomed = await stack.db.selectFrom('workflows').select(['id', 'workspace_id', 'latest_version']).where('id', '=', ids.doomed!).executeTakeFirstOrThrow();
    const start = (workflow: typeof free, extra: object = {}) =>
      startRun(stack.engine, { workspaceId: workflow.workspace_id, workflowId: workflow.id, version: workflow.latest_version, input: { x: 1 }, trigger: { type: 'api' }, concurrency: null, requireActive: true, ...extra });
    // The first creation goes alone at once; the ones made meanwhile wait for it and share the next statement.
    const blocker = start(free);
    const batch = await Promise.allSettled([
      start(free),
      start(doomed),
      start(free, { parent: { runId: randomUUID(), nodeId: 'call', depth: 0 } }), // no such run: a foreign key violation
      start(free),
      start(free, { idempotencyKey: 'late' }),
      start(free, { idempotencyKey: 'late' }),
    ]);
    await blocker;
    const [ok1, archived, violated, ok2, keyed, repeat] = batch;
    expect(archived).toMatchObject({ status: 'rejected', reason: { status: 404, code: 'not_found' } });
    expect(violated).toMatchObject({ status: 'rejected', reason: { code: '23503' } });
    for (const r of [ok1, ok2]) expect(r).toMatchObject({ status: 'fulfilled', value: { created: true } });
    // The batch failed, so its runs were retried one by one, concurrently: either asker may win the key.
    const value = (r: PromiseSettledResult<Awaited<ReturnType<typeof start>>>) => (r as PromiseFulfilledResult<Awaited<ReturnType<typeof start>>>).value;
    expect([value(keyed).created, value(repeat).created].sort()).toEqual([false, true]);
    expect(value(repeat).run.id).toBe(value(keyed).run.id);
    expect(await runsOf(ids.doomed!)).toEqual([]);
  });

  it('inserts what arrives together in one statement', async () => {
    const before = new Set((await runsOf(ids.free!)).map((r) => r.id));
    await Promise.all(Array.from({ length: 20 }, () => post('free')));
    const created = (await runsOf(ids.free!)).filter((r) => !before.has(r.id));
    expect(created).toHaveLength(20);
    // One statement, one transaction: its runs share now(). Fewer distinct instants than runs means batches.
    expect(new Set(created.map((r) => r.created_at.getTime())).size).toBeLessThan(20);
  });

  it('sees a workflow changed, archived or replaced since this process last read it', async () => {
    const def = (extra: object = {}) => ({ name: 'changing', nodes: [{ id: 'a', type: 'noop' }], ...extra });
    expect((await stack.request('POST', '/v1/workflows', { body: def() })).status).toBe(201);
    const first = await post('changing');
    expect(first.body).toMatchObject({ status: 'queued', version: 1 });
    // A new version with a concurrency limit, saved behind the run route's back (as another web process would).
    expect((await stack.request('PUT', '/v1/workflows/changing', { body: def({ concurrency: 1, nodes: [{ id: 'b', type: 'noop' }] }) })).status).toBe(200);
    const second = await post('changing');
    expect(second.status).toBe(202);
    expect(second.body.version).toBe(2);
    const row = await stack.db.selectFrom('runs').select(['status', 'version']).where('id', '=', second.body.id).executeTakeFirstOrThrow();
    // Queued, not started: the limit is now 1, and the first run (no workers here) holds the slot.
    expect(row).toEqual({ status: 'queued', version: 2 });

    // Archived, then a new workflow of the same name: the name now means the new one.
    expect((await stack.request('DELETE', '/v1/workflows/changing')).status).toBe(204);
    expect((await post('changing')).status).toBe(404);
    const created = await stack.request('POST', '/v1/workflows', { body: def() });
    const fresh = await post('changing');
    expect(fresh.status).toBe(202);
    expect(fresh.body.workflowId).toBe(created.body.id);
    expect(fresh.body.version).toBe(1);
  });
});
