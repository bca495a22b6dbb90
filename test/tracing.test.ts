import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../scripts/free-port.js';
import { startBlackhole, startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './otlp-receiver.js';
import { ENTRIES, startProcess, type AppProcess } from './process.js';
import { backends, startStack, waitForRun, type TestStack } from './stack.js';
import { startTargetServer, type TargetServer } from './target-server.js';

const WORKFLOWS = (target: string) => [
  { name: 'traced-child', nodes: [{ id: 'inner', type: 'transform', params: { value: 'from the child' } }] },
  {
    name: 'traced',
    nodes: [
      { id: 'first', type: 'transform', params: { value: { n: 1 } } },
      { id: 'call', type: 'http.request', params: { url: `${target}/json` } },
      { id: 'child', type: 'workflow.run', params: { workflow: 'traced-child' } },
      { id: 'last', type: 'noop' },
    ],
    edges: [
      { from: 'first', to: 'call' },
      { from: 'call', to: 'child' },
      { from: 'child', to: 'last' },
    ],
  },
  { name: 'traced-fail', nodes: [{ id: 'broken', type: 'http.request', params: { url: `${target}/status/500` } }] },
  // One run at a time: runs wait in `queued` and are started by admission, not by their creation.
  { name: 'traced-hook', concurrency: 1, webhook: { path: 'traced-hook' }, nodes: [{ id: 'wait', type: 'http.request', params: { url: `${target}/slow?ms=300` } }] },
];

/** The web process's API, as a client calls it: the run's root span is made there. */
async function post(port: number, key: string, path: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: '{}' });
  return { status: res.status, body: await res.json() };
}

/** A process's JSON log lines (anything else it printed is skipped). */
const logLines = (proc: AppProcess): any[] =>
  proc.lines.flatMap((l) => {
    try {
      return [JSON.parse(l)];
    } catch {
      return [];
    }
  });

const dropped = (metrics: string, reason: string) => Number(new RegExp(`^conveyor_trace_spans_dropped_total\\{[^}]*reason="${reason}"[^}]*\\} (\\d+)$`, 'm').exec(metrics)?.[1]);

const parseTraceparent = (tp: string) => {
  const [, traceId, spanId, flags] = /^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$/.exec(tp) ?? [];
  return { traceId: traceId!, spanId: spanId!, flags: flags! };
};

describe.each(backends())('traces on the %s backend', (backend) => {
  // One protocol per backend: both exporters are checked, each end to end.
  const protocol = backend === 'postgres' ? 'http/json' : 'http/protobuf';
  let stack: TestStack;
  let receiver: OtlpReceiver;
  let target: TargetServer;
  let web: AppProcess;
  let worker: AppProcess;
  let port: number;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    target = await startTargetServer();
    stack = await startStack({ backend, workers: false, env: { HTTP_ALLOW_HOSTS: '127.0.0.1' } });
    for (const wf of WORKFLOWS(target.url)) expect((await stack.request('POST', '/v1/workflows', { body: wf })).status).toBe(201);
    port = await freePort();
    const otel = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: protocol, OTEL_BSP_SCHEDULE_DELAY: '100' };
    web = startProcess(ENTRIES.web, { ...stack.env, ...otel, PORT: String(port) });
    // Debug: a line per node outcome, inside the node's span.
    worker = startProcess(ENTRIES.worker, { ...stack.env, ...otel, LOG_LEVEL: 'debug' });
    await Promise.all([web.waitFor(/web listening/), worker.waitFor(/worker consuming/)]);
  });
  afterAll(async () => {
    await Promise.all([web?.stop(), worker?.stop()]);
    await stack?.close();
    await target?.close();
    await receiver?.close();
  });

  it(`one trace per run over ${protocol}: a root span where it was created, a child span per node, traceparent sent to the target, trace_id in the logs`, async () => {
    const started = await post(port, stack.adminKey, '/v1/workflows/traced/runs');
    expect(started.status).toBe(202);
    const runId: string = started.body.id;
    expect((await waitForRun(stack, runId)).status).toBe('succeeded');
    const child = await stack.db.selectFrom('runs').select(['id', 'traceparent']).where('parent_run_id', '=', runId).executeTakeFirstOrThrow();
    const row = await stack.db.selectFrom('runs').select('traceparent').where('id', '=', runId).executeTakeFirstOrThrow();
    const { traceId, spanId: rootSpanId, flags } = parseTraceparent(row.traceparent!);
    expect(flags).toBe('01');

    const ofRun = (spans: ReceivedSpan[], id: string) => spans.filter((s) => s.attributes['conveyor.run_id'] === id);
    const spans = await receiver.waitFor((all) => ofRun(all, runId).length >= 5 && ofRun(all, child.id).length >= 2);
    expect(receiver.requests.every((r) => r.contentType === (protocol === 'http/json' ? 'application/json' : 'application/x-protobuf'))).toBe(true);

    // The root span: made by the web process that took POST /runs, stored on the run row.
    const root = ofRun(spans, runId).find((s) => s.name === 'run')!;
    expect(root).toMatchObject({ service: 'conveyor-web', traceId, spanId: rootSpanId, parentSpanId: '' });
    expect(root.attributes).toMatchObject({ 'conveyor.trigger': 'api', 'conveyor.workflow_version': 1, 'conveyor.created': true });

    // A span per node execution, each in the run's trace, each a child of the root, from the worker.
    const nodes = ofRun(spans, runId).filter((s) => s.name.startsWith('node '));
    expect(nodes.map((s) => s.attributes['conveyor.node_id']).sort()).toEqual(['call', 'child', 'first', 'last']);
    for (const span of nodes) {
      expect(span).toMatchObject({ service: 'conveyor-worker', traceId, parentSpanId: rootSpanId });
      expect(span.name).toBe(`node ${span.attributes['conveyor.node_type']}`);
      expect(span.attributes).toMatchObject({ 'conveyor.run_id': runId, 'conveyor.attempt': 1 });
      expect(span.status.code).not.toBe(2);
    }
    const byNode = Object.fromEntries(nodes.map((s) => [s.attributes['conveyor.node_id'], s]));
    expect(byNode.call!.attributes).toMatchObject({ 'conveyor.node_type': 'http.request', 'conveyor.status': 'succeeded' });
    expect(byNode.child!.attributes).toMatchObject({ 'conveyor.node_type': 'workflow.run', 'conveyor.status': 'waiting' });

    // The target called by http.request joined the trace: its parent is the call node's span.
    const called = target.requests.find((r) => r.path === '/json')!;
    expect(called.headers.traceparent).toBe(`00-${traceId}-${byNode.call!.spanId}-01`);

    // The child run is a trace of its own, linked to the workflow.run node that started it.
    const childRoot = ofRun(spans, child.id).find((s) => s.name === 'run')!;
    expect(childRoot.traceId).not.toBe(traceId);
    expect(childRoot.traceId).toBe(parseTraceparent(child.traceparent!).traceId);
    expect(childRoot.links).toEqual([{ traceId, spanId: byNode.child!.spanId }]);
    expect(childRoot.attributes).toMatchObject({ 'conveyor.trigger': 'workflow', 'conveyor.parent_run_id': runId, 'conveyor.parent_node_id': 'child' });
    const inner = ofRun(spans, child.id).find((s) => s.attributes['conveyor.node_id'] === 'inner')!;
    expect(inner).toMatchObject({ traceId: childRoot.traceId, parentSpanId: childRoot.spanId });

    // Log lines carry the trace: the worker's line for the call node names the same trace and span.
    const line = logLines(worker).find((l) => l.runId === runId && l.nodeId === 'call' && l.msg === 'node finished');
    expect(line).toMatchObject({ trace_id: traceId, span_id: byNode.call!.spanId });
  });

  it('a failed node ends its span with an error status', async () => {
    const started = await post(port, stack.adminKey, '/v1/workflows/traced-fail/runs');
    expect(started.status).toBe(202);
    expect((await waitForRun(stack, started.body.id)).status).toBe('failed');
    const spans = await receiver.waitFor((all) => all.some((s) => s.attributes['conveyor.node_id'] === 'broken' && s.attributes['conveyor.run_id'] === started.body.id));
    const broken = spans.find((s) => s.attributes['conveyor.node_id'] === 'broken' && s.attributes['conveyor.run_id'] === started.body.id)!;
    expect(broken.attributes['conveyor.status']).toBe('failed');
    expect(broken.status.code).toBe(2);
    expect(broken.status.message).toMatch(/answered 500/);
    const warned = logLines(worker).find((l) => l.runId === started.body.id && l.msg === 'node failed');
    expect(warned.trace_id).toBe(broken.traceId);
  });

  it('a retry and webhook runs admitted later each get their own trace, which their nodes join', async () => {
    const failed = (await post(port, stack.adminKey, '/v1/workflows/traced-fail/runs')).body.id as string;
    await waitForRun(stack, failed);
    const retried = await post(port, stack.adminKey, `/v1/runs/${failed}/retry`);
    expect(retried.status).toBe(202);
    // Two webhook deliveries at once on a concurrency-1 workflow: each run's node is enqueued by admission.
    const hooks = await Promise.all([1, 2].map(() => post(port, stack.adminKey, '/hooks/traced-hook')));
    expect(hooks.map((h) => h.status)).toEqual([202, 202]);
    const ids: string[] = [retried.body.id, ...hooks.map((h) => h.body.runId)];
    for (const id of ids) await waitForRun(stack, id);
    const rows = await stack.db.selectFrom('runs').select(['id', 'traceparent']).where('id', 'in', ids).execute();
    const spans = await receiver.waitFor((all) => ids.every((id) => all.filter((s) => s.attributes['conveyor.run_id'] === id).length >= 2));
    const traces = new Set<string>();
    for (const id of ids) {
      const { traceId, spanId } = parseTraceparent(rows.find((r) => r.id === id)!.traceparent!);
      traces.add(traceId);
      const mine = spans.filter((s) => s.attributes['conveyor.run_id'] === id);
      const root = mine.find((s) => s.name === 'run')!;
      expect(root).toMatchObject({ traceId, spanId, parentSpanId: '' });
      for (const node of mine.filter((s) => s !== root)) expect(node).toMatchObject({ traceId, parentSpanId: spanId });
    }
    expect(traces.size).toBe(3);
    const retryRoot = spans.find((s) => s.name === 'run' && s.attributes['conveyor.run_id'] === ids[0])!;
    expect(retryRoot.attributes).toMatchObject({ 'conveyor.trigger': 'retry', 'conveyor.retry_of': failed });
    const hookRoots = spans.filter((s) => s.name === 'run' && hooks.some((h) => (h.body.runId) === s.attributes['conveyor.run_id']));
    expect(hookRoots.map((s) => s.attributes['conveyor.trigger'])).toEqual(['webhook', 'webhook']);
    // Created `queued` (the workflow has a concurrency limit): their nodes were enqueued by admission, one after the other.
    expect(hookRoots.map((s) => s.attributes['conveyor.status'])).toEqual(['queued', 'queued']);
  });

  it("a schedule tick's run has its root span in the scheduler", async () => {
    const scheduler = startProcess(ENTRIES.scheduler, { ...stack.env, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: protocol, OTEL_BSP_SCHEDULE_DELAY: '100', SHUTDOWN_GRACE_MS: '5000' });
    try {
      await scheduler.waitFor(/scheduler started/, 45_000);
      const created = await stack.request('POST', '/v1/schedules', { body: { workflow: 'traced-child', cron: '*/1 * * * * *' } });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const spans = await receiver.waitFor((all) => all.some((s) => s.name === 'run' && s.attributes['conveyor.trigger'] === 'schedule' && all.some((n) => n.parentSpanId === s.spanId)));
      expect((await stack.request('PATCH', `/v1/schedules/${created.body.id}`, { body: { enabled: false } })).status).toBe(200);
      const root = spans.find((s) => s.name === 'run' && s.attributes['conveyor.trigger'] === 'schedule' && spans.some((n) => n.parentSpanId === s.spanId))!;
      expect(root.service).toBe('conveyor-scheduler');
      const node = spans.find((n) => n.parentSpanId === root.spanId)!;
      expect(node).toMatchObject({ service: 'conveyor-worker', traceId: root.traceId, name: 'node transform' });
      expect(node.attributes['conveyor.run_id']).toBe(root.attributes['conveyor.run_id']);
    } finally {
      expect((await scheduler.stop('SIGTERM')).code).toBe(0);
    }
  });
});

describe('an OTLP endpoint that never answers (worker) or refuses connections (web)', () => {
  let stack: TestStack;
  let blackhole: Awaited<ReturnType<typeof startBlackhole>>;
  let web: AppProcess;
  let worker: AppProcess;
  let port: number;
  let metricsPort: number;

  beforeAll(async () => {
    blackhole = await startBlackhole();
    stack = await startStack({ backend: backends().at(-1), workers: false });
    const nodes = Array.from({ length: 5 }, (_, i) => ({ id: `n${i}`, type: 'transform', params: { value: i } }));
    expect((await stack.request('POST', '/v1/workflows', { body: { name: 'dark', nodes } })).status).toBe(201);
    [port, metricsPort] = [await freePort(), await freePort()];
    // A tiny queue. The worker's exports hang for a minute (a stuck collector); the web's are refused (nothing listens).
    const otel = { OTEL_BSP_MAX_QUEUE_SIZE: '4', OTEL_BSP_SCHEDULE_DELAY: '50' };
    const refused = `http://127.0.0.1:${await freePort()}`;
    web = startProcess(ENTRIES.web, { ...stack.env, ...otel, OTEL_EXPORTER_OTLP_ENDPOINT: refused, OTEL_EXPORTER_OTLP_TIMEOUT: '1000', PORT: String(port) });
    worker = startProcess(ENTRIES.worker, { ...stack.env, ...otel, OTEL_EXPORTER_OTLP_ENDPOINT: blackhole.url, OTEL_EXPORTER_OTLP_TIMEOUT: '60000', METRICS_PORT: String(metricsPort), SHUTDOWN_GRACE_MS: '10000' });
    await Promise.all([web.waitFor(/web listening/), worker.waitFor(/worker consuming/)]);
  });
  afterAll(async () => {
    await Promise.all([web?.stop(), worker?.stop()]);
    await stack?.close();
    await blackhole?.close();
  });

  it('slows no run, counts the spans it drops, and does not hold the shutdown', async () => {
    const t0 = Date.now();
    const ids = await Promise.all(Array.from({ length: 20 }, async () => (await post(port, stack.adminKey, '/v1/workflows/dark/runs')).body.id as string));
    const runs = await Promise.all(ids.map((id) => waitForRun(stack, id, 15_000)));
    expect(runs.every((r) => r.status === 'succeeded')).toBe(true);
    // 100 nodes on a collector that never answers: seconds, where runs waiting on exports would take minutes.
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(blackhole.connections).toBeGreaterThan(0);

    // 100 node spans, at most 4 queued and one batch of 4 in flight: the rest dropped, and counted.
    const workerMetrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(dropped(workerMetrics, 'queue_full')).toBeGreaterThanOrEqual(100 - 4 - 4);
    expect(dropped(workerMetrics, 'export_failed')).toBe(0);
    // The web process's exports are refused: they fail within OTEL_EXPORTER_OTLP_TIMEOUT, and their spans are counted.
    const webDropped = async () => dropped(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text(), 'export_failed');
    for (const deadline = Date.now() + 10_000; (await webDropped()) === 0 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 100));
    expect(await webDropped()).toBeGreaterThan(0);
    expect(web.lines.some((l) => l.includes('tracing: spans dropped') && l.includes('export_failed'))).toBe(true);
    expect(worker.lines.some((l) => l.includes('tracing: spans dropped'))).toBe(true);

    // The export in flight hangs; the shutdown waits for it a bounded time, then exits cleanly.
    const { code, ms } = await worker.stop('SIGTERM');
    expect(code, worker.lines.slice(-5).join('\n')).toBe(0);
    expect(ms).toBeLessThan(8_000);
  });
});
