import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { pino } from 'pino';
import { DEFAULT_NODE_QUEUE } from '../lib/jobs.js';
import { createQueueBackend, type QueueBackend } from '../lib/queue.js';
import { scratchDataParent, startEmbeddedPostgres, type EmbeddedPostgres } from '../scripts/embedded-postgres.js';
import { freePort } from '../scripts/free-port.js';
import { ENTRIES, startProcess, type AppProcess } from '../test/process.js';
import { startOtlpSink } from './otlp-sink.js';
import { cpuPerItem, cpuSeconds, sampleCpu } from './process-cpu.js';
import { dropScratchQueues } from './scratch-queues.js';
import { median, percentile, round, withConcurrency } from './stats.js';

/**
 * `npm run bench`: raw BullMQ against Conveyor on the same backend, worker processes and
 * concurrency, in one run. Every figure the README quotes comes from here.
 *
 * Env: DATABASE_URL (a server to create a scratch database on; else embedded PostgreSQL),
 * REDIS_URL (default redis://127.0.0.1:6379 when it answers), BENCH_BACKENDS (redis,postgres),
 * BENCH_WORKERS (2), BENCH_CONCURRENCY (50), BENCH_SCALE (1: multiplies run counts; the
 * baseline always gets its full, warm 20k jobs on Redis), BENCH_BUILT (1: build with tsc and
 * run web and workers from dist/, as the Procfile does; 0 runs the sources under tsx),
 * BENCH_OUT (bench/results/latest.json), BENCH_TRACING (0: no OTEL endpoint, tracing off, as every
 * figure is measured; 1: web and workers export every span to a local OTLP sink, bench/otlp-sink.ts,
 * to compare the two back to back).
 */
type Backend = 'redis' | 'postgres';

const WORKERS = Number(process.env.BENCH_WORKERS ?? 2);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 50);
const BUILT = process.env.BENCH_BUILT !== '0';
const TRACING = process.env.BENCH_TRACING === '1';
/** The processes measured: built, as the Procfile runs them (memory figures depend on it), or the sources. */
/**
 * The node flags the Procfile gives a process (`worker: exec node --flag dist/...`), passed as
 * NODE_OPTIONS so the built processes run as the Procfile runs them.
 */
async function procfileFlags(kind: 'web' | 'worker'): Promise<Record<string, string>> {
  const procfile = await readFile('Procfile', 'utf8');
  const flags = new RegExp(`^${kind}:\\s*exec node ((?:--\\S+\\s+)*)dist/`, 'm').exec(procfile)?.[1]?.trim();
  return flags ? { NODE_OPTIONS: flags } : {};
}

const APP = BUILT
  ? { web: 'dist/apps/api/main.js', worker: 'dist/apps/worker/main.js', migrate: 'dist/scripts/migrate.js' }
  : { web: ENTRIES.web, worker: ENTRIES.worker, migrate: ENTRIES.migrate };
const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const CLIENTS = 50;
const n = (count: number) => Math.max(1, Math.round(count * SCALE));
const quiet = pino({ level: 'silent' });

interface Env { serverUrl: string; redisUrl?: string; stop(): Promise<void> }

async function provision(): Promise<Env> {
  let embedded: EmbeddedPostgres | undefined;
  let dir: string | undefined;
  let serverUrl = process.env.DATABASE_URL;
  if (!serverUrl) {
    dir = await scratchDataParent('conveyor-bench-');
    embedded = await startEmbeddedPostgres({ dataDir: path.join(dir, 'pg'), port: await freePort() });
    serverUrl = embedded.url;
  }
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const probe = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  const redisUp = await probe.connect().then(() => probe.ping()).then(() => true, () => false);
  probe.disconnect();
  return {
    serverUrl,
    redisUrl: redisUp ? redisUrl : undefined,
    async stop() {
      await embedded?.stop();
      if (dir) await rm(dir, { recursive: true, force: true });
    },
  };
}

async function createDatabase(serverUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `conveyor_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/** Bytes the backend holds under our prefix: Redis keys, or the bullmq schema's tables. */
async function queueBytes(backend: Backend, env: Record<string, string>): Promise<number> {
  if (backend === 'redis') {
    const redis = new Redis(env.REDIS_URL!);
    let total = 0;
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${env.QUEUE_PREFIX}:*`, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) total += Number((await redis.memory('USAGE', key)) ?? 0);
    } while (cursor !== '0');
    redis.disconnect();
    return total;
  }
  const c = new pg.Client({ connectionString: env.DATABASE_URL });
  await c.connect();
  await c.query('VACUUM');
  const { rows } = await c.query(`SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint AS bytes
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'bullmq' AND c.relkind = 'r'`);
  await c.end();
  return Number(rows[0].bytes);
}

async function waitIdle(queues: QueueBackend, name: string, timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const counts = await queues.queue(name).getJobCounts('wait', 'active', 'delayed', 'prioritized', 'waiting-children');
    if (Object.values(counts).every((c) => c === 0)) return;
    if (Date.now() > deadline) throw new Error(`queue ${name} not drained: ${JSON.stringify(counts)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function rss(children: AppProcess[]): Promise<{ rssMb: number; peakMb: number }[]> {
  return Promise.all(children.map(async (p) => {
    const status = await readFile(`/proc/${p.child.pid}/status`, 'utf8').catch(() => '');
    const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
    return { rssMb: round(kb('VmRSS') / 1024), peakMb: round(kb('VmHWM') / 1024) };
  }));
}

/** Jobs the baseline and the floor are timed on, after their warm-up of 2,000. */
const timedJobs = (backend: Backend) => Math.round((backend === 'redis' ? 20_000 : 5_000) * Math.max(1, SCALE));

/**
 * Starts WORKERS processes of `script` at the engine's concurrency, warms them with 2,000 jobs,
 * then times `timedJobs` more: jobs per second and CPU per job by process. `feed(count)` adds
 * that many jobs and resolves once the queue is idle; `prepare(count)`, before the clock starts,
 * sets up what they need.
 */
async function timedWorkers(
  backend: Backend,
  script: string,
  ready: RegExp,
  env: Record<string, string>,
  feed: (count: number) => Promise<void>,
  prepare: (count: number) => Promise<void> = async () => {},
) {
  const workers = Array.from({ length: WORKERS }, () => startProcess(script, { ...env, WORKER_CONCURRENCY: String(CONCURRENCY) }));
  try {
    await Promise.all(workers.map((w) => w.waitFor(ready, 30_000)));
    // At its best: warmed up, then enough jobs that start-up and the last stragglers weigh
    // nothing (a small, cold run measured BullMQ at a third of its rate).
    await prepare(2000);
    await feed(2000);
    const jobs = timedJobs(backend);
    await prepare(jobs);
    const pids = workers.map((w) => w.child.pid!);
    const cpuBefore = sampleCpu(pids);
    const t0 = performance.now();
    await feed(jobs);
    const seconds = (performance.now() - t0) / 1000;
    return { jobsPerSecond: round(jobs / seconds), jobs, cpuMs: cpuPerItem(cpuBefore, sampleCpu(pids), jobs) };
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
}

const JOB_OPTS = { removeOnComplete: { age: 3600, count: 1000 } };

/** Adds `count` jobs in addBulks of 500 and resolves once the queue is idle. */
async function addJobs(queues: QueueBackend, name: string, count: number, data: (i: number) => object): Promise<void> {
  for (let i = 0; i < count; i += 500) {
    await queues.queue(name).addBulk(Array.from({ length: Math.min(500, count - i) }, (_, k) => ({ name: 'node', data: data(i + k), opts: JOB_OPTS })));
  }
  await waitIdle(queues, name);
}

async function raw(backend: Backend, env: Record<string, string>) {
  const queues = createQueueBackend({ REDIS_URL: env.REDIS_URL, DATABASE_URL: env.DATABASE_URL!, QUEUE_PREFIX: env.QUEUE_PREFIX! }, quiet);
  const queue = queues.queue('raw');
  const payload = () => ({ runId: crypto.randomUUID(), nodeId: 'step' });
  try {
    const sample = n(1000);
    const before = await queueBytes(backend, env);
    await queue.addBulk(Array.from({ length: sample }, () => ({ name: 'node', data: payload(), opts: JOB_OPTS })));
    const bytesPerJob = (await queueBytes(backend, env) - before) / sample;
    await queue.obliterate({ force: true });
    const timed = await timedWorkers(backend, 'bench/raw-worker.ts', /raw worker ready/, env, (count) => addJobs(queues, 'raw', count, payload));
    return { ...timed, bytesPerJob: Math.round(bytesPerJob) };
  } finally {
    await queue.obliterate({ force: true });
    await queues.close();
  }
}

/**
 * The floor (bench/floor-worker.ts): BullMQ with, per job, only the PostgreSQL writes every node
 * must have in a design whose source of truth is PostgreSQL — its claim and its result, each a
 * conditional update with its event, group-committed as the engine's are. Measured as `raw` is.
 */
async function floor(backend: Backend, env: Record<string, string>) {
  const db = new pg.Client({ connectionString: env.DATABASE_URL });
  await db.connect();
  await db.query(`CREATE TABLE floor_nodes (id bigint PRIMARY KEY, status text NOT NULL, attempts int NOT NULL DEFAULT 0,
                    started_at timestamptz, finished_at timestamptz, output jsonb);
                  CREATE TABLE floor_events (id bigserial PRIMARY KEY, node_id bigint NOT NULL, type text NOT NULL, attempt int,
                    at timestamptz NOT NULL DEFAULT now());
                  CREATE INDEX ON floor_events (node_id, id);`);
  const queues = createQueueBackend({ REDIS_URL: env.REDIS_URL, DATABASE_URL: env.DATABASE_URL!, QUEUE_PREFIX: env.QUEUE_PREFIX! }, quiet);
  // Node rows are inserted just before their jobs, as the engine's drain queues its runs just before its clock.
  let inserted = 0;
  let enqueued = 0;
  const prepare = async (count: number) => {
    await db.query(`INSERT INTO floor_nodes (id, status) SELECT g, 'queued' FROM generate_series($1::bigint, $2::bigint) g`, [inserted, inserted + count - 1]);
    inserted += count;
  };
  const feed = (count: number) => {
    const first = enqueued;
    enqueued += count;
    return addJobs(queues, 'floor', count, (i) => ({ id: first + i }));
  };
  try {
    const timed = await timedWorkers(backend, 'bench/floor-worker.ts', /floor worker ready/, env, feed, prepare);
    const { rows } = await db.query(`SELECT count(*) FILTER (WHERE status <> 'succeeded')::int AS open, (SELECT count(*)::int FROM floor_events) AS events FROM floor_nodes`);
    // Every node claimed and finished once: a floor that skipped work would flatter the engine.
    if (rows[0].open !== 0 || rows[0].events !== 2 * inserted) throw new Error(`floor: ${rows[0].open} nodes not succeeded, ${rows[0].events} events for ${inserted} nodes`);
    return timed;
  } finally {
    await queues.queue('floor').obliterate({ force: true });
    await queues.close();
    await db.end();
  }
}

interface Client { post(path: string, body: unknown): Promise<{ status: number; body: any; ms: number }> }

function client(baseUrl: string, key: string, serverLog: () => string = () => ''): Client {
  return {
    async post(p, body) {
      const t0 = performance.now();
      const res = await fetch(baseUrl + p, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const parsed = await res.json();
      if (res.status >= 500) console.error(`[bench] ${p} answered ${res.status}; web logged:\n${serverLog()}`);
      return { status: res.status, body: parsed, ms: performance.now() - t0 };
    },
  };
}

const chain = (name: string, length: number) => ({
  name,
  nodes: Array.from({ length }, (_, i) => ({ id: `s${i}`, type: 'noop', params: { i } })),
  edges: Array.from({ length: length - 1 }, (_, i) => ({ from: `s${i}`, to: `s${i + 1}` })),
});
const fan = (name: string, width: number) => ({
  name,
  nodes: [{ id: 'start', type: 'noop', params: {} }, ...Array.from({ length: width }, (_, i) => ({ id: `b${i}`, type: 'noop', params: { i } })), { id: 'end', type: 'noop', params: {} }],
  edges: Array.from({ length: width }, (_, i) => [{ from: 'start', to: `b${i}` }, { from: `b${i}`, to: 'end' }]).flat(),
});

async function startRuns(api: Client, workflow: string, count: number, clients = CLIENTS): Promise<{ ids: string[]; latencies: number[]; sentAt: Map<string, number> }> {
  const ids: string[] = [];
  const latencies: number[] = [];
  const sentAt = new Map<string, number>();
  await withConcurrency(Array.from({ length: count }, (_, i) => i), clients, async () => {
    const sent = Date.now();
    const res = await api.post(`/v1/workflows/${workflow}/runs`, { input: {} });
    if (res.status !== 202) throw new Error(`POST runs: ${res.status} ${JSON.stringify(res.body)}`);
    ids.push(res.body.id);
    latencies.push(res.ms);
    sentAt.set(res.body.id, sent);
  });
  return { ids, latencies, sentAt };
}

/** Waits until every run is terminal; returns the epoch ms of the last finish (database clock = this machine's). */
async function waitRuns(db: pg.Client, ids: string[], timeoutMs = 600_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await db.query(
      `SELECT count(*) FILTER (WHERE status IN ('succeeded','failed','cancelled'))::int AS done,
              count(*) FILTER (WHERE status <> 'succeeded' AND status IN ('failed','cancelled'))::int AS bad,
              (extract(epoch FROM max(finished_at)) * 1000)::float8 AS last
         FROM runs WHERE id = ANY($1::uuid[])`, [ids]);
    if (rows[0].bad > 0) throw new Error(`${rows[0].bad} benchmark runs did not succeed`);
    if (rows[0].done === ids.length) return rows[0].last;
    if (Date.now() > deadline) throw new Error(`runs not finished: ${rows[0].done}/${ids.length}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function engine(backend: Backend, env: Record<string, string>) {
  const port = await freePort();
  const key = env.BOOTSTRAP_API_KEY!;
  const migrate = startProcess(APP.migrate, env);
  if ((await migrate.exited).code !== 0) throw new Error(`migrate failed:\n${migrate.lines.join('\n')}`);
  const web = startProcess(APP.web, { ...env, PORT: String(port) });
  await web.waitFor(/web listening/, 30_000);
  // A failed request names what the web process logged about it.
  const api = client(`http://127.0.0.1:${port}`, key, () => web.lines.filter((l) => /"level":"(error|warn)"/.test(l)).slice(-5).join('\n'));
  const db = new pg.Client({ connectionString: env.DATABASE_URL });
  await db.connect();
  for (const wf of [chain('one', 1), chain('chain10', 10), fan('fan50', 50), chain('chain40', 40)]) {
    const res = await api.post('/v1/workflows', wf);
    if (res.status !== 201) throw new Error(`create ${wf.name}: ${res.status} ${JSON.stringify(res.body)}`);
  }

  // Queue footprint of runs waiting for a worker: no worker is running yet.
  const sample = n(1000);
  const before = await queueBytes(backend, env);
  const queued = await startRuns(api, 'one', sample);
  const bytesPerRun = (await queueBytes(backend, env) - before) / sample;

  // Workers started cold on the runs queued above: that drain is their warm-up, as the
  // baseline's first 2,000 jobs are its own (a cold start is kept in the JSON, not compared).
  const workerFlags = BUILT ? await procfileFlags('worker') : {};
  const workers = Array.from({ length: WORKERS }, () => startProcess(APP.worker, { ...env, ...workerFlags, WORKER_CONCURRENCY: String(CONCURRENCY) }));
  await Promise.all(workers.map((w) => w.waitFor(/worker consuming/, 30_000)));
  const coldStart = Date.now();
  const coldEnd = await waitRuns(db, queued.ids);
  const coldDrain = { runs: sample, nodesPerSecond: round(sample / ((coldEnd - coldStart) / 1000)) };

  // The engine's own node rate, as the baseline measures BullMQ's: runs already queued (the API
  // is not in the loop) while the node queue is paused, then released to the warm workers; time
  // until the last one ends.
  const queues = createQueueBackend({ REDIS_URL: env.REDIS_URL, DATABASE_URL: env.DATABASE_URL!, QUEUE_PREFIX: env.QUEUE_PREFIX! }, quiet);
  const nodes = queues.queue(DEFAULT_NODE_QUEUE);
  await nodes.pause();
  const drainRuns = n(5000);
  const held = await startRuns(api, 'one', drainRuns);
  const cpuBefore = sampleCpu(workers.map((w) => w.child.pid!));
  const drainStart = Date.now();
  await nodes.resume();
  const drainEnd = await waitRuns(db, held.ids);
  const drain = { runs: drainRuns, nodesPerSecond: round(drainRuns / ((drainEnd - drainStart) / 1000)), cpuMs: cpuPerItem(cpuBefore, sampleCpu(workers.map((w) => w.child.pid!)), drainRuns) };
  await queues.close();

  const throughput = async (workflow: string, runs: number, nodesPerRun: number) => {
    const pids = workers.map((w) => w.child.pid!);
    const before = { ...sampleCpu(pids), web: cpuSeconds(web.child.pid!), load: process.cpuUsage() };
    const t0 = Date.now();
    const started = await startRuns(api, workflow, runs);
    const last = await waitRuns(db, started.ids);
    const seconds = (last - t0) / 1000;
    // Where the CPU of a run went, the load generator (this process: 50 HTTP clients) included:
    // on two cores, what every process spends per run bounds the runs per second.
    const load = process.cpuUsage(before.load);
    const perRun = (secondsOfCpu: number) => round((secondsOfCpu * 1000) / runs, 2);
    const cpuMsPerRun = {
      ...cpuPerItem(before, sampleCpu(pids), runs),
      web: perRun(cpuSeconds(web.child.pid!) - before.web),
      loadGenerator: perRun((load.user + load.system) / 1e6),
    };
    return { runs, nodesPerSecond: round((runs * nodesPerRun) / seconds), runsPerSecond: round(runs / seconds), latencies: started.latencies, cpuMsPerRun };
  };
  const one = await throughput('one', n(2000), 1);
  const chain10 = await throughput('chain10', n(200), 10);
  const fan50 = await throughput('fan50', n(40), 52);

  // Trigger → first node start on an idle system: runs paced 20 ms apart, POST send time to started_at.
  const paced: { id: string; sent: number; ms: number }[] = [];
  for (let i = 0; i < n(200); i++) {
    const sent = Date.now();
    const res = await api.post('/v1/workflows/one/runs', { input: {} });
    paced.push({ id: res.body.id, sent, ms: res.ms });
    await new Promise((r) => setTimeout(r, 20));
  }
  await waitRuns(db, paced.map((p) => p.id));
  const { rows: starts } = await db.query(
    `SELECT run_id, (extract(epoch FROM min(started_at)) * 1000)::float8 AS started FROM node_runs WHERE run_id = ANY($1::uuid[]) GROUP BY run_id`,
    [paced.map((p) => p.id)]);
  const sentById = new Map(paced.map((p) => [p.id, p.sent]));
  const triggerToStart = starts.map((r) => r.started - sentById.get(r.run_id)!);

  // Windmill's workload: one 40-step chain at a time, wall time from creation to finish.
  const chainWall: number[] = [];
  for (let i = 0; i < 10; i++) {
    const res = await api.post('/v1/workflows/chain40/runs', { input: {} });
    await waitRuns(db, [res.body.id]);
    const { rows } = await db.query(`SELECT (extract(epoch FROM finished_at - created_at) * 1000)::float8 AS ms FROM runs WHERE id = $1`, [res.body.id]);
    chainWall.push(rows[0].ms);
  }

  const memory = await rss(workers);
  await Promise.all([...workers, web].map((p) => p.stop()));
  await db.end();
  return {
    drain,
    coldDrain,
    one: { runs: one.runs, nodesPerSecond: one.nodesPerSecond, runsPerSecond: one.runsPerSecond, cpuMsPerRun: one.cpuMsPerRun },
    chain10: { runs: chain10.runs, nodesPerSecond: chain10.nodesPerSecond, runsPerSecond: chain10.runsPerSecond },
    fan50: { runs: fan50.runs, nodesPerSecond: fan50.nodesPerSecond, runsPerSecond: fan50.runsPerSecond },
    postRunsMs: { clients: CLIENTS, p50: round(median(one.latencies)), p99: round(percentile(one.latencies, 99)) },
    triggerToStartMs: { p50: round(median(triggerToStart)), p99: round(percentile(triggerToStart, 99)) },
    // The same POST at a steady 50 runs/s, one client: its latency without a queue of requests ahead.
    postRunsPacedMs: { p50: round(median(paced.map((p) => p.ms))), p99: round(percentile(paced.map((p) => p.ms), 99)) },
    chain40WallMs: { median: round(median(chainWall)), min: round(Math.min(...chainWall)), max: round(Math.max(...chainWall)) },
    workerMemory: memory,
    queueBytesPerQueuedRun: Math.round(bytesPerRun),
  };
}

async function benchBackend(backend: Backend, env: Env) {
  const database = await createDatabase(env.serverUrl);
  const sink = TRACING ? await startOtlpSink() : undefined;
  const appEnv: Record<string, string> = {
    DATABASE_URL: database.url,
    ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    BOOTSTRAP_API_KEY: `cvy_bench_${randomBytes(16).toString('hex')}`,
    QUEUE_PREFIX: `bench${randomBytes(3).toString('hex')}`,
    // info, as in production: the per-node log line is part of the cost measured.
    LOG_LEVEL: 'info',
    // DATABASE_PREPARED_STATEMENTS=false measures the engine without them.
    ...(process.env.DATABASE_PREPARED_STATEMENTS ? { DATABASE_PREPARED_STATEMENTS: process.env.DATABASE_PREPARED_STATEMENTS } : {}),
    // DATABASE_POOL_SIZE=N measures every process with pools of N.
    ...(process.env.DATABASE_POOL_SIZE ? { DATABASE_POOL_SIZE: process.env.DATABASE_POOL_SIZE } : {}),
    ...(backend === 'redis' ? { REDIS_URL: env.redisUrl! } : {}),
    ...(sink ? { OTEL_EXPORTER_OTLP_ENDPOINT: sink.url } : {}),
  };
  try {
    if (backend === 'postgres') {
      const migrate = startProcess(APP.migrate, appEnv);
      if ((await migrate.exited).code !== 0) throw new Error(`migrate failed:\n${migrate.lines.join('\n')}`);
    }
    console.error(`[${backend}] raw BullMQ baseline…`);
    const baseline = await raw(backend, appEnv);
    console.error(`[${backend}] floor: BullMQ with each node's claim and result in PostgreSQL…`);
    const floorRate = await floor(backend, appEnv);
    console.error(`[${backend}] engine…`);
    const result = await engine(backend, appEnv);
    const ratio = (nodesPerSecond: number) => round(nodesPerSecond / baseline.jobsPerSecond, 2);
    return {
      backend,
      workers: WORKERS,
      concurrency: CONCURRENCY,
      baseline,
      floor: { ...floorRate, ratio: ratio(floorRate.jobsPerSecond) },
      engine: result,
      tracing: sink ? sink.stats() : ('off' as const),
      ratio: ratio(result.drain.nodesPerSecond),
      ratios: { drain: ratio(result.drain.nodesPerSecond), api: ratio(result.one.runsPerSecond), chain10: ratio(result.chain10.nodesPerSecond), fan50: ratio(result.fan50.nodesPerSecond) },
    };
  } finally {
    await sink?.close();
    await dropScratchQueues(appEnv).catch(() => {});
    await database.drop().catch(() => {});
  }
}

const cpuCell = (c: { workers: number; postgres: number; redis: number }) => `${c.workers} / ${c.postgres} / ${c.redis}`;

function table(results: Awaited<ReturnType<typeof benchBackend>>[]): string {
  const rows: [string, (r: (typeof results)[number]) => string | number][] = [
    ['raw BullMQ no-op jobs/s', (r) => r.baseline.jobsPerSecond],
    ['floor: BullMQ + claim and result rows: jobs/s (× raw)', (r) => `${r.floor.jobsPerSecond} (${r.floor.ratio}×)`],
    ['CPU ms per job/node, workers/PostgreSQL/Redis: raw', (r) => cpuCell(r.baseline.cpuMs)],
    ['  floor', (r) => cpuCell(r.floor.cpuMs)],
    ['  drain', (r) => cpuCell(r.engine.drain.cpuMs)],
    ['queued 1-node runs drained (warm workers): nodes/s', (r) => `${r.engine.drain.nodesPerSecond} (${r.ratios.drain}×)`],
    ['  the same, workers started cold on 1,000 runs', (r) => `${r.engine.coldDrain.nodesPerSecond} (${round(r.engine.coldDrain.nodesPerSecond / r.baseline.jobsPerSecond, 2)}×)`],
    ['1-node runs through the API: runs/s (× raw)', (r) => `${r.engine.one.runsPerSecond} (${r.ratios.api}×)`],
    ['  CPU ms per run: load generator/web/workers/PostgreSQL/Redis', (r) => { const c = r.engine.one.cpuMsPerRun; return `${c.loadGenerator} / ${c.web} / ${cpuCell(c)}`; }],
    ['10-node chains: nodes/s (× raw)', (r) => `${r.engine.chain10.nodesPerSecond} (${r.ratios.chain10}×)`],
    ['1→50→1 fan: nodes/s (× raw)', (r) => `${r.engine.fan50.nodesPerSecond} (${r.ratios.fan50}×)`],
    [`POST /runs p50/p99 ms (${CLIENTS} clients)`, (r) => `${r.engine.postRunsMs.p50} / ${r.engine.postRunsMs.p99}`],
    ['POST /runs p50/p99 ms (50 runs/s paced)', (r) => `${r.engine.postRunsPacedMs.p50} / ${r.engine.postRunsPacedMs.p99}`],
    ['trigger→first node start p50/p99 ms', (r) => `${r.engine.triggerToStartMs.p50} / ${r.engine.triggerToStartMs.p99}`],
    ['40-step chain wall ms (median)', (r) => r.engine.chain40WallMs.median],
    ['worker RSS MB (peak)', (r) => r.engine.workerMemory.map((m) => `${m.rssMb} (${m.peakMb})`).join(', ')],
    ['queue bytes per queued run', (r) => r.engine.queueBytesPerQueuedRun],
    ['raw BullMQ bytes per job', (r) => r.baseline.bytesPerJob],
    ['tracing (BENCH_TRACING): OTLP exports received', (r) => (r.tracing === 'off' ? 'off' : `${r.tracing.exports} (${round(r.tracing.bytes / 1e6)} MB)`)],
  ];
  const header = ['', ...results.map((r) => r.backend)];
  const body = rows.map(([label, f]) => [label, ...results.map((r) => String(f(r)))]);
  const widths = header.map((_, i) => Math.max(...[header, ...body].map((row) => row[i]!.length)));
  return [header, ...body].map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')).join('\n');
}

// Dropping a scratch database terminates its sessions (57P01); a pool BullMQ's PostgreSQL backend
// closes lazily may still hold one. That is the end of a benchmark, not a failure of it.
process.on('uncaughtException', (err) => {
  if ((err as { code?: string }).code === '57P01') return;
  throw err;
});

if (BUILT) {
  console.error('[bench] building (tsc -p tsconfig.build.json): web and workers run from dist/, as the Procfile runs them');
  const build = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  if (build.status !== 0) throw new Error('build failed');
}

// `npm run bench -- --soak 10m`: memory and connections under a steady flow instead (bench/soak.ts).
if (process.argv.includes('--soak')) {
  const { soak } = await import('./soak.js');
  await soak(process.argv[process.argv.indexOf('--soak') + 1] ?? '10m', { built: BUILT });
  process.exit(0);
}

const env = await provision();
try {
  const wanted = (process.env.BENCH_BACKENDS ?? 'redis,postgres').split(',').map((s) => s.trim()) as Backend[];
  const results = [];
  for (const backend of wanted) {
    if (backend === 'redis' && !env.redisUrl) {
      console.error('[redis] skipped: no Redis answers at REDIS_URL or 127.0.0.1:6379');
      continue;
    }
    const result = await benchBackend(backend, env);
    results.push(result);
    console.error(`[${backend}] ${JSON.stringify(result)}`);
  }
  const out = process.env.BENCH_OUT ?? 'bench/results/latest.json';
  await mkdir(path.dirname(out), { recursive: true });
  await writeFile(out, JSON.stringify({ at: new Date().toISOString(), node: process.version, cpus: (await import('node:os')).cpus().length, results }, null, 2));
  console.log(table(results));
  console.log(`\nJSON written to ${out}`);
} finally {
  await env.stop();
}
