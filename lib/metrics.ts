import { timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { EngineHooks } from './engine/deps.js';
import type { Logger } from './logger.js';
import type { QueueBackend } from './queue.js';
import { QUEUE_STATES, queueDepths } from './queue-depths.js';

/** One process's Prometheus registry: nothing global, so processes (and tests) never share counters. */
export interface Metrics {
  registry: Registry;
  /** Pass to `engineDeps({ hooks })`: the engine reports node and run outcomes here. */
  hooks: EngineHooks;
  render(): Promise<{ contentType: string; body: string }>;
}

export interface MetricsOptions {
  /** `web`, `worker`...: the `process` label of every series. */
  process: string;
  /** Read job counts of these queues at scrape time (`conveyor_queue_jobs`). */
  queues?: { backend: QueueBackend; names: readonly string[] };
  /** Node executions in flight in this process (workers). */
  inFlight?: () => number;
  /** More gauges read at scrape time, e.g. live SSE subscribers. */
  gauges?: Record<string, { help: string; read: () => number }>;
  /** Node.js process metrics (CPU, memory, event loop lag, GC). Default true. */
  processMetrics?: boolean;
}

// Node executions range from a transform (ms) to an LLM call or a slow API (minutes).
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

export function createMetrics(opts: MetricsOptions): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ process: opts.process });
  if (opts.processMetrics !== false) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const runs = new Counter({ name: 'conveyor_runs_total', help: 'Runs finished in this process, by final status', labelNames: ['status'], registers });
  const executions = new Counter({
    name: 'conveyor_node_executions_total',
    help: 'Node executions recorded in this process, by provider type and outcome',
    labelNames: ['type', 'status'],
    registers,
  });
  const duration = new Histogram({
    name: 'conveyor_node_duration_seconds',
    help: 'Time a node execution took in its provider, by provider type',
    labelNames: ['type'],
    buckets: DURATION_BUCKETS,
    registers,
  });
  if (opts.queues) {
    const { backend, names } = opts.queues;
    // One read per scrape, shared by both gauges (the depths gauge collects first: it is registered first).
    let reading: Promise<boolean> = Promise.resolve(false);
    new Gauge({
      name: 'conveyor_queue_jobs',
      help: 'Jobs per queue and state, read from the queue backend at scrape time',
      labelNames: ['queue', 'state'],
      registers,
      async collect() {
        this.reset();
        reading = queueDepths(backend, names).then(
          (depths) => {
            for (const depth of depths) for (const state of QUEUE_STATES) this.set({ queue: depth.name, state }, depth[state]);
            return true;
          },
          () => false,
        );
        await reading;
      },
    });
    new Gauge({
      name: 'conveyor_queue_backend_up',
      help: '1 when the queue backend answered this scrape in time',
      registers,
      async collect() {
        this.set((await reading) ? 1 : 0);
      },
    });
  }
  if (opts.inFlight) {
    const read = opts.inFlight;
    new Gauge({ name: 'conveyor_worker_in_flight', help: 'Node executions in flight in this worker', registers, collect() { this.set(read()); } });
  }
  for (const [name, g] of Object.entries(opts.gauges ?? {})) {
    new Gauge({ name, help: g.help, registers, collect() { this.set(g.read()); } });
  }
  return {
    registry,
    hooks: {
      nodeExecuted({ type, status, seconds }) {
        executions.inc({ type, status });
        duration.observe({ type }, seconds);
      },
      runFinished({ status }) {
        runs.inc({ status });
      },
    },
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}

/** METRICS_TOKEN, when set, as `Authorization: Bearer <token>`: compared in constant time. */
export function metricsAuthorized(header: string | undefined, token: string | undefined): boolean {
  if (!token) return true;
  const match = /^Bearer\s+(\S+)$/i.exec(header?.trim() ?? '');
  if (!match) return false;
  const given = Buffer.from(match[1]!);
  const wanted = Buffer.from(token);
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}

/** A worker's own small HTTP server: GET /metrics (and /healthz) on METRICS_PORT. */
export function serveMetrics(metrics: Metrics, opts: { port: number; token?: string; log: Logger; host?: string }): { server: Server; close(): Promise<void> } {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/healthz') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    if (req.method !== 'GET' || path !== '/metrics') return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"code":"not_found","message":"GET /metrics"}}');
    if (!metricsAuthorized(req.headers.authorization, opts.token)) {
      return void res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer' }).end('{"error":{"code":"unauthorized","message":"Send METRICS_TOKEN as `Authorization: Bearer <token>`."}}');
    }
    metrics.render().then(
      ({ contentType, body }) => res.writeHead(200, { 'content-type': contentType }).end(body),
      () => res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"code":"internal_error","message":"could not collect metrics"}}'),
    );
  });
  server.on('error', (err) => opts.log.error({ port: opts.port, err: err.message }, 'metrics server failed: is METRICS_PORT free?'));
  server.listen(opts.port, opts.host ?? '0.0.0.0', () => opts.log.info({ port: opts.port }, 'metrics listening'));
  return {
    server,
    close: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }),
  };
}
