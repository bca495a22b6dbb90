import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { listEvents } from '../../../db/run-events.js';
import { parseSse, type SseMessage } from '../../../lib/cli/sse.js';
import { createRunEventsHub } from '../../../lib/run-events-hub.js';
import { allQueueNames } from '../../../lib/engine/queues.js';
import { createApp } from '../app.js';
import { backends, startStack, waitForRun, type TestStack } from '../../../test/stack.js';

const fanOut = {
  name: 'fan',
  nodes: [
    { id: 'start', type: 'transform', params: { value: { n: '{{ input.n }}' } } },
    { id: 'left', type: 'transform', params: { value: '{{ nodes.start.output.n + 1 }}' } },
    { id: 'right', type: 'transform', params: { value: '{{ nodes.start.output.n + 2 }}' } },
    { id: 'join', type: 'transform', params: { value: '{{ nodes.left.output + nodes.right.output }}' } },
  ],
  edges: [
    { from: 'start', to: 'left' },
    { from: 'start', to: 'right' },
    { from: 'left', to: 'join' },
    { from: 'right', to: 'join' },
  ],
};

const gated = {
  name: 'gated',
  nodes: [
    { id: 'gate', type: 'wait.signal', params: {} },
    { id: 'after', type: 'transform', params: { value: '{{ nodes.gate.output }}' } },
  ],
  edges: [{ from: 'gate', to: 'after' }],
};

type App = TestStack['app'];

/** Opens the stream in-process, as a client would over HTTP. */
async function open(app: App, key: string, runId: string, opts: { lastEventId?: string; query?: string } = {}) {
  const headers: Record<string, string> = { authorization: `Bearer ${key}` };
  if (opts.lastEventId) headers['last-event-id'] = opts.lastEventId;
  const res = await app.request(`/v1/runs/${runId}/events${opts.query ?? ''}`, { headers });
  return res;
}

/** Reads messages until the stream ends (or `until` says stop), bounded by `timeoutMs`. */
async function collect(res: Response, opts: { until?: (m: SseMessage) => boolean; timeoutMs?: number } = {}) {
  const messages: SseMessage[] = [];
  let ended = false;
  const reading = (async () => {
    for await (const m of parseSse(res.body!)) {
      messages.push(m);
      if (opts.until?.(m)) return;
    }
    ended = true;
  })();
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([reading, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`stream still open after ${opts.timeoutMs ?? 20_000} ms: ${JSON.stringify(messages.map((m) => m.event ?? m.comment))}`)), opts.timeoutMs ?? 20_000)))]);
  clearTimeout(timer);
  return { events: messages.filter((m) => m.event), comments: messages.filter((m) => m.comment !== undefined), ended };
}

async function startRun(stack: TestStack, name: string, input: unknown = {}) {
  const res = await stack.request('POST', `/v1/workflows/${name}/runs`, { body: { input } });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body.id as string;
}

async function dbEvents(stack: TestStack, runId: string) {
  return (await listEvents(stack.db, runId, 0)).map((e) => ({ id: String(e.id), event: e.type }));
}

describe.each(backends())('run events over SSE (%s backend)', (backend) => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack({ backend, env: { SSE_KEEPALIVE_MS: '300' } });
    for (const wf of [fanOut, gated]) expect((await stack.request('POST', '/v1/workflows', { body: wf })).status).toBe(201);
  });
  afterAll(() => stack.close());

  it('streams every event of a run in order, from the first to the terminal one, then closes', async () => {
    const runId = await startRun(stack, 'fan', { n: 1 });
    const res = await open(stack.app, stack.adminKey, runId);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const { events, ended } = await collect(res);
    expect(ended).toBe(true);
    expect(events[0]!.event).toBe('run.queued');
    expect(events.at(-1)!.event).toBe('run.succeeded');
    const ids = events.map((e) => Number(e.id));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(ids.length);
    expect(events.map((e) => ({ id: e.id, event: e.event }))).toEqual(await dbEvents(stack, runId));
    const data = JSON.parse(events.find((e) => e.event === 'node.succeeded')!.data);
    expect(data).toMatchObject({ id: expect.any(Number), runId, type: 'node.succeeded', nodeId: expect.any(String), createdAt: expect.any(String) });
    expect(events.filter((e) => e.event === 'node.succeeded').map((e) => JSON.parse(e.data).nodeId).sort()).toEqual(['join', 'left', 'right', 'start']);
  });

  it('resumes after Last-Event-ID (header or query) with nothing repeated or lost, mid-run and after the end', async () => {
    const runId = await startRun(stack, 'gated');
    // First connection: until the gate waits, then the client goes away.
    const first = await collect(await open(stack.app, stack.adminKey, runId), { until: (m) => m.event === 'node.waiting' });
    const lastSeen = first.events.at(-1)!.id!;
    expect(first.events.map((e) => e.event)).toEqual(['run.queued', 'run.started', 'node.queued', 'node.started', 'node.waiting']);
    // Events happen while nobody listens.
    expect((await stack.request('POST', `/v1/runs/${runId}/nodes/gate/signal`, { body: { payload: { ok: true } } })).status).toBe(202);
    await waitForRun(stack, runId);
    const second = await collect(await open(stack.app, stack.adminKey, runId, { lastEventId: lastSeen }));
    expect(second.ended).toBe(true);
    expect([...first.events, ...second.events].map((e) => ({ id: e.id, event: e.event }))).toEqual(await dbEvents(stack, runId));
    // After the end: resume from the middle by query parameter, and from the terminal event (nothing left: closes at once).
    const all = await dbEvents(stack, runId);
    const fromQuery = await collect(await open(stack.app, stack.adminKey, runId, { query: `?lastEventId=${all[2]!.id}` }));
    expect(fromQuery.events.map((e) => e.id)).toEqual(all.slice(3).map((e) => e.id));
    const atEnd = await collect(await open(stack.app, stack.adminKey, runId, { lastEventId: all.at(-1)!.id }), { timeoutMs: 5_000 });
    expect(atEnd).toMatchObject({ events: [], ended: true });
  });

  it('delivers events live, and sends a keep-alive comment while nothing happens', async () => {
    const runId = await startRun(stack, 'gated');
    const res = await open(stack.app, stack.adminKey, runId);
    const seen: SseMessage[] = [];
    let keepAlives = 0;
    const done = (async () => {
      for await (const m of parseSse(res.body!)) {
        if (m.comment !== undefined) keepAlives++;
        else seen.push(m);
      }
    })();
    const deadline = Date.now() + 15_000;
    while (!(seen.some((m) => m.event === 'node.waiting') && keepAlives >= 2)) {
      if (Date.now() > deadline) throw new Error(`no waiting event and keep-alives: ${JSON.stringify(seen.map((m) => m.event))}, ${keepAlives}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    // The stream is still open: the signal's consequences arrive on it.
    expect((await stack.request('POST', `/v1/runs/${runId}/nodes/gate/signal`, { body: { payload: 1 } })).status).toBe(202);
    await done;
    expect(seen.at(-1)!.event).toBe('run.succeeded');
    expect(seen.map((e) => ({ id: e.id, event: e.event }))).toEqual(await dbEvents(stack, runId));
  });

  it("answers 404 for another workspace's run, as for a run that does not exist, and 400 for a bad Last-Event-ID", async () => {
    const runId = await startRun(stack, 'fan', { n: 2 });
    const ws = await stack.request('POST', '/v1/workspaces', { body: { name: `other-${backend}` } });
    expect(ws.status).toBe(201);
    const other = await open(stack.app, ws.body.apiKey.secret, runId);
    expect(other.status).toBe(404);
    expect(await other.json()).toMatchObject({ error: { code: 'not_found' } });
    expect((await open(stack.app, ws.body.apiKey.secret, '00000000-0000-4000-8000-000000000000')).status).toBe(404);
    const bad = await open(stack.app, stack.adminKey, runId, { lastEventId: 'abc' });
    expect(bad.status).toBe(400);
    expect((await stack.request('GET', `/v1/runs/${runId}/events`, { key: null })).status).toBe(401);
  });
});

describe('SSE fan-out', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack();
    expect((await stack.request('POST', '/v1/workflows', { body: gated })).status).toBe(201);
  });
  afterAll(() => stack.close());

  it('serves many clients on two web processes with one LISTEN connection each, and one read per notification per process', async () => {
    // A second web process: its own app and hub over the same database.
    const hub2 = createRunEventsHub({ db: stack.db, databaseUrl: stack.config.DATABASE_URL, log: stack.log });
    const app2 = createApp({ db: stack.db, queues: stack.queues, config: stack.config, log: stack.log, engine: stack.engine, queueNames: allQueueNames(), runEvents: hub2 });
    try {
      const runId = await startRun(stack, 'gated');
      const clients = 12;
      const streams = await Promise.all(Array.from({ length: clients }, (_, i) => open(i % 2 ? app2 : stack.app, stack.adminKey, runId)));
      const results = streams.map((res) => collect(res));
      const deadline = Date.now() + 15_000;
      while (!(stack.runEvents.stats().subscribers === clients / 2 && hub2.stats().subscribers === clients / 2)) {
        if (Date.now() > deadline) throw new Error(`subscribers: ${JSON.stringify([stack.runEvents.stats(), hub2.stats()])}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      const listeners = await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity where datname = current_database() and application_name = 'conveyor-run-events'`.execute(stack.db);
      expect(listeners.rows[0]!.n).toBe(2);
      const readsBefore = stack.runEvents.stats().reads + hub2.stats().reads;
      await waitForNode(stack, runId, 'gate', 'waiting');
      expect((await stack.request('POST', `/v1/runs/${runId}/nodes/gate/signal`, { body: { payload: 1 } })).status).toBe(202);
      const all = await Promise.all(results);
      const expected = await dbEvents(stack, runId);
      for (const r of all) expect(r.events.map((e) => ({ id: e.id, event: e.event }))).toEqual(expected);
      // Reads follow notifications (one per committed transaction of the run, per process), not clients.
      const reads = stack.runEvents.stats().reads + hub2.stats().reads - readsBefore;
      expect(reads).toBeLessThanOrEqual(2 * expected.length);
      expect(stack.runEvents.stats()).toMatchObject({ runs: 0, subscribers: 0 });
      // Each hub drops its watch once its last client has gone: asynchronously, so allow it a moment.
      const until = Date.now() + 5_000;
      let watches = await stack.db.selectFrom('run_event_watches').selectAll().execute();
      while (watches.length > 0 && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 50));
        watches = await stack.db.selectFrom('run_event_watches').selectAll().execute();
      }
      expect(watches).toEqual([]);
    } finally {
      await hub2.close();
    }
  });

  it('forgets a client that disconnects over real HTTP (no subscriber, no watch left)', async () => {
    const server = await new Promise<ServerType>((resolve) => {
      const srv = serve({ fetch: stack.app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(srv));
    });
    try {
      const runId = await startRun(stack, 'gated');
      const abort = new AbortController();
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/runs/${runId}/events`, { headers: { authorization: `Bearer ${stack.adminKey}` }, signal: abort.signal });
      const reader = res.body!.getReader();
      expect(new TextDecoder().decode((await reader.read()).value)).toContain('event: run.queued');
      expect(stack.runEvents.stats().subscribers).toBe(1);
      abort.abort();
      const deadline = Date.now() + 10_000;
      while (stack.runEvents.stats().subscribers > 0) {
        if (Date.now() > deadline) throw new Error(`still subscribed: ${JSON.stringify(stack.runEvents.stats())}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      await waitForNode(stack, runId, 'gate', 'waiting');
      const until = Date.now() + 5_000;
      while ((await stack.db.selectFrom('run_event_watches').selectAll().execute()).length > 0) {
        if (Date.now() > until) throw new Error('watch left behind');
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('ends open streams when the server shuts down', async () => {
    const hub = createRunEventsHub({ db: stack.db, databaseUrl: stack.config.DATABASE_URL, log: stack.log });
    const app = createApp({ db: stack.db, queues: stack.queues, config: stack.config, log: stack.log, engine: stack.engine, queueNames: allQueueNames(), runEvents: hub });
    const runId = await startRun(stack, 'gated');
    const reading = collect(await open(app, stack.adminKey, runId), { timeoutMs: 10_000 });
    await waitForNode(stack, runId, 'gate', 'waiting');
    await hub.close();
    const { ended, events } = await reading;
    expect(ended).toBe(true);
    expect(events.at(-1)!.event).not.toMatch(/^run\.(succeeded|failed|cancelled)$/);
    expect((await open(app, stack.adminKey, runId)).status).toBe(503);
  });
});

async function waitForNode(stack: TestStack, runId: string, nodeId: string, status: string) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const r = await stack.request('GET', `/v1/runs/${runId}`);
    if (r.body.nodes?.find((n: { id: string }) => n.id === nodeId)?.status === status) return;
    if (Date.now() > deadline) throw new Error(`node ${nodeId} never ${status}: ${JSON.stringify(r.body.nodes)}`);
    await new Promise((res) => setTimeout(res, 25));
  }
}
