import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetrics } from '../lib/metrics.js';
import { freePort } from '../scripts/free-port.js';
import { ENTRIES, startProcess } from './process.js';
import { startStack, waitForRun, type TestStack } from './stack.js';

const TOKEN = 'metrics-token-0123456789abcdef';

/** The value of one series in Prometheus text, or undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const labelText = line.slice(name.length).split(' ')[0]!;
    if (Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) return Number(line.split(' ').at(-1));
  }
  return undefined;
}

const workflow = {
  name: 'measured',
  nodes: [
    { id: 'a', type: 'transform', params: { value: '{{ input.n }}' } },
    { id: 'b', type: 'transform', params: { value: '{{ nodes.a.output * 2 }}' } },
    { id: 'boom', type: 'transform', when: '{{ input.fail = true }}', params: { value: '{{ $notAFunction() }}' } },
  ],
  edges: [{ from: 'a', to: 'b' }, { from: 'a', to: 'boom' }],
};

describe('GET /metrics', () => {
  let stack: TestStack;
  const scrape = async (key?: string) => {
    const res = await stack.app.request('/metrics', key ? { headers: { authorization: `Bearer ${key}` } } : {});
    return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
  };
  beforeAll(async () => {
    stack = await startStack({ env: { METRICS_TOKEN: TOKEN } });
    expect((await stack.request('POST', '/v1/workflows', { body: workflow })).status).toBe(201);
  });
  afterAll(() => stack.close());

  it('is guarded by METRICS_TOKEN as a Bearer token', async () => {
    expect((await scrape()).status).toBe(401);
    expect((await scrape('wrong-token-0123456789abcdef')).status).toBe(401);
    expect((await scrape(stack.adminKey)).status).toBe(401);
    const ok = await scrape(TOKEN);
    expect(ok.status).toBe(200);
    expect(ok.type).toContain('text/plain');
  });

  it('has the documented series, and the counters move with runs', async () => {
    const before = (await scrape(TOKEN)).text;
    const ok = await stack.request('POST', '/v1/workflows/measured/runs', { body: { input: { n: 2 } } });
    const bad = await stack.request('POST', '/v1/workflows/measured/runs', { body: { input: { n: 3, fail: true } } });
    expect((await waitForRun(stack, ok.body.id)).status).toBe('succeeded');
    expect((await waitForRun(stack, bad.body.id)).status).toBe('failed');
    const after = (await scrape(TOKEN)).text;
    const delta = (name: string, labels: Record<string, string>) => (sample(after, name, labels) ?? 0) - (sample(before, name, labels) ?? 0);
    expect(delta('conveyor_runs_total', { status: 'succeeded' })).toBe(1);
    expect(delta('conveyor_runs_total', { status: 'failed' })).toBe(1);
    // a, b twice each succeeded; boom skipped once, failed once.
    expect(delta('conveyor_node_executions_total', { type: 'transform', status: 'succeeded' })).toBe(4);
    expect(delta('conveyor_node_executions_total', { type: 'transform', status: 'failed' })).toBe(1);
    expect(delta('conveyor_node_duration_seconds_count', { type: 'transform' })).toBeGreaterThanOrEqual(5);
    expect(sample(after, 'conveyor_node_duration_seconds_bucket', { type: 'transform', le: '+Inf' })).toBeGreaterThanOrEqual(5);
    for (const state of ['waiting', 'prioritized', 'active', 'delayed', 'failed', 'completed']) {
      expect(sample(after, 'conveyor_queue_jobs', { queue: 'nodes', state }), state).toBeGreaterThanOrEqual(0);
    }
    expect(sample(after, 'conveyor_queue_jobs', { queue: 'nodes', state: 'completed' })).toBeGreaterThanOrEqual(5);
    expect(sample(after, 'conveyor_queue_backend_up')).toBe(1);
    expect(sample(after, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(sample(after, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
  });

  it('reads queue depths from the backend at scrape time', async () => {
    const idle = await startStack({ workers: false });
    try {
      await idle.request('POST', '/v1/workflows', { body: workflow });
      for (let i = 0; i < 3; i++) expect((await idle.request('POST', '/v1/workflows/measured/runs', { body: { input: { n: i } } })).status).toBe(202);
      const text = await (await idle.app.request('/metrics')).text();
      const ready = (sample(text, 'conveyor_queue_jobs', { queue: 'nodes', state: 'waiting' }) ?? 0) + (sample(text, 'conveyor_queue_jobs', { queue: 'nodes', state: 'prioritized' }) ?? 0);
      expect(ready).toBe(3);
      expect(sample(text, 'conveyor_queue_backend_up')).toBe(1);
    } finally {
      await idle.close();
    }
  });

  it('keeps one registry per process: two in one process count separately', () => {
    const a = createMetrics({ process: 'a', processMetrics: false });
    const b = createMetrics({ process: 'b', processMetrics: false });
    a.hooks.runFinished!({ runId: 'x', status: 'succeeded' });
    return Promise.all([a.render(), b.render()]).then(([ra, rb]) => {
      expect(sample(ra.body, 'conveyor_runs_total', { status: 'succeeded' })).toBe(1);
      expect(sample(rb.body, 'conveyor_runs_total', { status: 'succeeded' })).toBeUndefined();
    });
  });
});

describe('a worker process serves its own /metrics on METRICS_PORT', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack({ workers: false });
    expect((await stack.request('POST', '/v1/workflows', { body: workflow })).status).toBe(201);
  });
  afterAll(() => stack.close());

  it('counts the nodes it executed, behind METRICS_TOKEN', async () => {
    const port = await freePort();
    const worker = startProcess(ENTRIES.worker, { ...stack.env, METRICS_PORT: String(port), METRICS_TOKEN: TOKEN, SHUTDOWN_GRACE_MS: '5000' });
    try {
      await worker.waitFor(/metrics listening/);
      const url = `http://127.0.0.1:${port}/metrics`;
      expect((await fetch(url)).status).toBe(401);
      const run = await stack.request('POST', '/v1/workflows/measured/runs', { body: { input: { n: 1 } } });
      expect((await waitForRun(stack, run.body.id)).status).toBe('succeeded');
      const res = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(sample(text, 'conveyor_node_executions_total', { type: 'transform', status: 'succeeded', process: 'worker' })).toBe(2);
      expect(sample(text, 'conveyor_runs_total', { status: 'succeeded' })).toBe(1);
      expect(sample(text, 'conveyor_worker_in_flight')).toBe(0);
      expect(sample(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    } finally {
      const { code } = await worker.stop('SIGTERM');
      expect(code, worker.lines.slice(-10).join('\n')).toBe(0);
    }
  });
});
