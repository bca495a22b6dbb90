import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashSecret } from '../auth/api-keys.js';
import { CONTROL_QUEUE, controlJobId } from '../jobs.js';
import { backends, startStack, waitForRun, type TestStack } from '../../test/stack.js';
import { sweep } from './sweeper.js';

const byId = (run: { nodes: { id: string }[] }) => Object.fromEntries(run.nodes.map((n) => [n.id, n])) as Record<string, any>;

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.each(backends())('delays and signals on the %s backend', (backend) => {
  let stack: TestStack;
  const viewerKey = `cvy_viewer_${Math.random().toString(36).slice(2)}_0123456789`;

  beforeAll(async () => {
    // One worker slot: a wait that held it would stall every other run.
    stack = await startStack({ backend, concurrency: 1 });
    const { workspace_id } = await stack.db.selectFrom('api_keys').select('workspace_id').executeTakeFirstOrThrow();
    await stack.db.insertInto('api_keys').values({ workspace_id, name: 'viewer', role: 'viewer', secret_hash: hashSecret(viewerKey), prefix: 'cvy_vi' }).execute();
    for (const body of [
      { name: 'nap', nodes: [{ id: 'wait', type: 'delay', params: { ms: 1200 } }, { id: 'after', type: 'noop' }], edges: [{ from: 'wait', to: 'after' }] },
      { name: 'quick', nodes: [{ id: 'a', type: 'noop' }] },
      { name: 'approve', nodes: [{ id: 'gate', type: 'wait.signal' }, { id: 'done', type: 'transform', params: { value: 'ok' } }], edges: [{ from: 'gate', to: 'done' }] },
      { name: 'approve-or-timeout', nodes: [{ id: 'gate', type: 'wait.signal', params: { timeoutMs: 300 } }] },
    ]) {
      const res = await stack.request('POST', '/v1/workflows', { body });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
    }
  });
  afterAll(() => stack.close());

  const start = async (name: string) => {
    const res = await stack.request('POST', `/v1/workflows/${name}/runs`, { body: {} });
    expect(res.status).toBe(202);
    return res.body.id as string;
  };
  const nodeStatus = async (runId: string, nodeId: string) => {
    const run = await stack.request('GET', `/v1/runs/${runId}`);
    return byId(run.body)[nodeId];
  };

  it('a delay parks the node in waiting without holding the only worker slot, then completes', async () => {
    const started = Date.now();
    const napId = await start('nap');
    const waiting = await until('the delay to park', async () => {
      const n = await nodeStatus(napId, 'wait');
      return n.status === 'waiting' && n;
    });
    expect(waiting.waitingFor).toMatch(/^delay until \d{4}-/);
    // The only slot is free: another run goes through while the delay waits.
    const quick = await waitForRun(stack, await start('quick'));
    expect(quick.status).toBe('succeeded');
    expect((await stack.request('GET', `/v1/runs/${napId}`)).body.status).toBe('running');
    const run = await waitForRun(stack, napId);
    expect(run.status).toBe('succeeded');
    expect(Date.now() - started).toBeGreaterThanOrEqual(1200);
    expect(byId(run).wait.output).toEqual({ until: expect.any(String) });
    const events = await stack.db.selectFrom('run_events').select('type').where('run_id', '=', napId).where('node_id', '=', 'wait').orderBy('id').execute();
    expect(events.map((e) => e.type)).toEqual(['node.queued', 'node.started', 'node.waiting', 'node.succeeded']);
  });

  it('a delay until a past time does not wait; a bad delay is refused at save', async () => {
    const res = await stack.request('POST', '/v1/workflows', { body: { name: 'past', nodes: [{ id: 'd', type: 'delay', params: { until: '2001-01-01T00:00:00Z' } }] } });
    expect(res.status).toBe(201);
    const run = await waitForRun(stack, await start('past'));
    expect(run.status).toBe('succeeded');
    for (const params of [{ ms: 5, until: '2030-01-01T00:00:00Z' }, {}, { ms: -1 }, { until: 'tomorrow' }]) {
      const bad = await stack.request('POST', '/v1/workflows', { body: { name: 'bad-delay', nodes: [{ id: 'd', type: 'delay', params }] } });
      expect(bad.status, JSON.stringify(params)).toBe(400);
      expect(bad.body.error.details[0].pointer).toMatch(/^\/nodes\/0\/params/);
    }
  });

  it('a signal resumes a waiting node with its payload; a second signal and a wrong node are 409', async () => {
    const runId = await start('approve');
    const gate = await until('the gate to wait', async () => {
      const n = await nodeStatus(runId, 'gate');
      return n.status === 'waiting' && n;
    });
    expect(gate.waitingFor).toContain(`/v1/runs/${runId}/nodes/gate/signal`);
    expect((await stack.request('POST', `/v1/runs/${runId}/nodes/done/signal`, { body: { payload: 1 } })).status).toBe(409);
    expect((await stack.request('POST', `/v1/runs/${runId}/nodes/ghost/signal`, { body: { payload: 1 } })).status).toBe(404);
    expect((await stack.request('POST', `/v1/runs/${runId}/nodes/gate/signal`, { key: viewerKey, body: { payload: 1 } })).status).toBe(403);
    const ok = await stack.request('POST', `/v1/runs/${runId}/nodes/gate/signal`, { body: { payload: { approved: true, by: 'ana' } } });
    expect(ok.status).toBe(202);
    const again = await stack.request('POST', `/v1/runs/${runId}/nodes/gate/signal`, { body: { payload: { approved: false } } });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toMatch(/node_not_waiting|run_not_running/);
    const run = await waitForRun(stack, runId);
    expect(run.status).toBe('succeeded');
    expect(byId(run).gate.output).toEqual({ approved: true, by: 'ana' });
    const audit = await stack.db.selectFrom('audit_log').select(['action', 'target_id']).where('action', '=', 'run.signal').execute();
    expect(audit).toContainEqual({ action: 'run.signal', target_id: runId });
  });

  it('an unsignalled node with timeoutMs fails with signal_timeout', async () => {
    const run = await waitForRun(stack, await start('approve-or-timeout'));
    expect(run.status).toBe('failed');
    expect(byId(run).gate).toMatchObject({ status: 'failed', error: { code: 'signal_timeout' } });
  });

  it('cancel during a delay and during a wait: cancelled at once, timers removed', async () => {
    for (const name of ['nap', 'approve']) {
      const runId = await start(name);
      const nodeId = name === 'nap' ? 'wait' : 'gate';
      await until('the node to wait', async () => (await nodeStatus(runId, nodeId)).status === 'waiting');
      expect((await stack.request('POST', `/v1/runs/${runId}/cancel`)).status).toBe(202);
      const run = await stack.request('GET', `/v1/runs/${runId}`);
      expect(run.body.status).toBe('cancelled');
      expect(byId(run.body)[nodeId].status).toBe('cancelled');
      expect(await stack.queues.queue(CONTROL_QUEUE).getJob(controlJobId({ kind: 'wake', runId, nodeId }))).toBeFalsy();
    }
  });

  it('a delay whose timer the queue lost is re-created by the sweeper with the time that remained', async () => {
    const started = Date.now();
    const runId = await start('nap');
    await until('the delay to park', async () => (await nodeStatus(runId, 'wait')).status === 'waiting');
    await stack.queues.queue(CONTROL_QUEUE).obliterate({ force: true });
    const swept = await sweep(stack.engine, { graceMs: 0 });
    expect(swept.timers).toBe(1);
    const run = await waitForRun(stack, runId);
    expect(run.status).toBe('succeeded');
    expect(Date.now() - started).toBeGreaterThanOrEqual(1150);
  });
});
