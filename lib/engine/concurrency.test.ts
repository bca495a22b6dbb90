import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, startStack, waitForRun, type TestStack } from '../../test/stack.js';
import { sweep } from './sweeper.js';

const byId = (run: { nodes: { id: string }[] }) => Object.fromEntries(run.nodes.map((n) => [n.id, n])) as Record<string, any>;

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** [started, finished] of each run, from its events: the source of truth for "never overlapped". */
async function intervals(stack: TestStack, runIds: readonly string[]) {
  const rows = await stack.db
    .selectFrom('run_events')
    .select(['run_id', 'type', 'id'])
    .where('run_id', 'in', [...runIds])
    .where('type', 'in', ['run.started', 'run.succeeded', 'run.failed', 'run.cancelled'])
    .orderBy('id')
    .execute();
  return runIds.map((id) => {
    const mine = rows.filter((r) => r.run_id === id);
    return { id, start: mine.find((r) => r.type === 'run.started')?.id ?? Infinity, end: mine.find((r) => r.type !== 'run.started')?.id ?? Infinity };
  });
}

describe.each(backends())('concurrency, priorities and deadlines on the %s backend', (backend) => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await startStack({ backend, concurrency: 4 });
    for (const body of [
      { name: 'one-at-a-time', concurrency: 1, nodes: [{ id: 'nap', type: 'delay', params: { ms: 150 } }] },
      { name: 'gated', concurrency: 1, nodes: [{ id: 'gate', type: 'wait.signal' }] },
      { name: 'deadline', timeoutMs: 300, nodes: [{ id: 'gate', type: 'wait.signal' }, { id: 'after', type: 'noop' }], edges: [{ from: 'gate', to: 'after' }] },
    ]) {
      const res = await stack.request('POST', '/v1/workflows', { body });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
    }
  });
  afterAll(() => stack.close());

  const start = async (name: string, body: object = {}) => {
    const res = await stack.request('POST', `/v1/workflows/${name}/runs`, { body });
    expect(res.status).toBe(202);
    expect(res.body.status).toBe('queued');
    return res.body.id as string;
  };

  it('a concurrency-1 workflow runs 5 runs one after the other, never overlapping', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await start('one-at-a-time'));
    const waiting = await stack.request('GET', `/v1/runs/${ids[4]}`);
    expect(waiting.body.status).toBe('queued');
    expect(waiting.body.waitingFor).toBe('a concurrency slot: 1/1 running');
    for (const id of ids) expect((await waitForRun(stack, id)).status).toBe('succeeded');
    const spans = (await intervals(stack, ids)).sort((a, b) => a.start - b.start);
    for (let i = 1; i < spans.length; i++) expect(spans[i]!.start).toBeGreaterThan(spans[i - 1]!.end);
    expect(spans.map((s) => s.id)).toEqual(ids);
  });

  it('queued runs start in priority order, then FIFO; cancelling the running one frees its slot', async () => {
    const blocker = await start('gated');
    await until('the blocker to run', async () => byId((await stack.request('GET', `/v1/runs/${blocker}`)).body).gate.status === 'waiting');
    const low = await start('gated', { priority: 9 });
    const firstHigh = await start('gated', { priority: 2 });
    const secondHigh = await start('gated', { priority: 2 });
    const status = async (id: string) => (await stack.request('GET', `/v1/runs/${id}`)).body.status;
    expect([await status(low), await status(firstHigh), await status(secondHigh)]).toEqual(['queued', 'queued', 'queued']);

    expect((await stack.request('POST', `/v1/runs/${blocker}/cancel`)).status).toBe(202);
    await until('the first high-priority run to start', async () => (await status(firstHigh)) === 'running');
    expect([await status(low), await status(secondHigh)]).toEqual(['queued', 'queued']);
    // A queued run can be cancelled too; it never takes a slot.
    expect((await stack.request('POST', `/v1/runs/${low}/cancel`)).status).toBe(202);
    expect((await stack.request('POST', `/v1/runs/${firstHigh}/cancel`)).status).toBe(202);
    await until('the second high-priority run to start', async () => (await status(secondHigh)) === 'running');
    expect(await status(low)).toBe('cancelled');
    expect((await stack.request('POST', `/v1/runs/${secondHigh}/cancel`)).status).toBe(202);
    const held = await stack.db.selectFrom('runs as r').innerJoin('workflows as w', 'w.id', 'r.workflow_id').select('r.id').where('w.name', '=', 'gated').where('r.status', 'in', ['queued', 'running']).execute();
    expect(held).toEqual([]);
  });

  it("the workflow's timeoutMs fails the run with run_timeout and cancels what is left", async () => {
    const run = await waitForRun(stack, await start('deadline'));
    expect(run).toMatchObject({ status: 'failed', error: { code: 'run_timeout' } });
    expect(byId(run).gate.status).toBe('cancelled');
    expect(byId(run).after.status).toBe('cancelled');
  });

  it('a deadline passed while every worker was down is enforced by the sweeper', async () => {
    for (const w of stack.workers.splice(0)) await w.close();
    try {
      const id = await start('deadline');
      await new Promise((r) => setTimeout(r, 400));
      expect((await stack.request('GET', `/v1/runs/${id}`)).body.status).toBe('running');
      const swept = await sweep(stack.engine, { deadlineGraceMs: 0 });
      expect(swept.deadlines).toBe(1);
      const run = await stack.request('GET', `/v1/runs/${id}`);
      expect(run.body).toMatchObject({ status: 'failed', error: { code: 'run_timeout' } });
    } finally {
      stack.startWorkers();
    }
  });
});
