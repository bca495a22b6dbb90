import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { inject } from 'vitest';
import { createApp, type App } from '../apps/api/app.js';
import { startConsumers } from '../apps/worker/consumers.js';
import { createDb, createPool, type Database } from '../db/database.js';
import { ensureBootstrapKey } from '../lib/auth/bootstrap.js';
import { loadConfig, type Config } from '../lib/config.js';
import { cachedCredentials } from '../lib/credentials/cache.js';
import { credentialResolver } from '../lib/credentials/resolver.js';
import { createKeyring } from '../lib/crypto.js';
import type { EngineDeps } from '../lib/engine/deps.js';
import { listenForCancellations } from '../lib/engine/cancel-listener.js';
import { engineDeps } from '../lib/engine/engine-deps.js';
import { allQueueNames } from '../lib/engine/queues.js';
import { afterCommitsSettled } from '../lib/engine/tx.js';
import type { Logger } from '../lib/logger.js';
import { createMetrics, type Metrics } from '../lib/metrics.js';
import type { ProviderRegistry } from '../lib/providers/registry.js';
import { createQueueBackend, type JobWorker, type QueueBackend } from '../lib/queue.js';
import { createRunEventsHub, type RunEventsHub } from '../lib/run-events-hub.js';
import { createTestDatabase, type TestDatabase } from './database.js';

export type Backend = 'postgres' | 'redis';

/** The queue backends to run engine tests on: both when Redis answers. */
export function backends(): Backend[] {
  return inject('redisUrl') ? ['postgres', 'redis'] : ['postgres'];
}

export interface StackOptions {
  backend?: Backend;
  /** Start in-process node consumers (default true). */
  workers?: boolean;
  concurrency?: number;
  env?: Record<string, string>;
  registry?: ProviderRegistry;
  credentials?: EngineDeps['credentials'];
  /** Logger for every part of the stack (default: silent unless TEST_LOG_LEVEL). */
  log?: Logger;
}

export interface ApiResponse<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export interface TestStack {
  config: Config;
  /** The environment the stack was configured from: hand it to child processes. */
  env: Record<string, string>;
  db: Database;
  queues: QueueBackend;
  engine: EngineDeps;
  app: App;
  log: Logger;
  adminKey: string;
  workers: JobWorker[];
  database: TestDatabase;
  /** The app's registry; the engine's hooks report into it. */
  metrics: Metrics;
  /** The app's SSE fan-out, closed by close(). */
  runEvents: RunEventsHub;
  request<T = any>(method: string, path: string, opts?: { body?: unknown; key?: string | null; headers?: Record<string, string> }): Promise<ApiResponse<T>>;
  startWorkers(concurrency?: number): JobWorker[];
  close(): Promise<void>;
}

export function testLogger(): Logger {
  return pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
}

/** A whole Conveyor in this process: its own database and queue prefix, the API app, and workers. */
export async function startStack(opts: StackOptions = {}): Promise<TestStack> {
  const backend = opts.backend ?? 'postgres';
  const database = await createTestDatabase();
  const adminKey = `cvy_test_${randomBytes(16).toString('hex')}`;
  const env: Record<string, string> = {
    DATABASE_URL: database.url,
    ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    BOOTSTRAP_API_KEY: adminKey,
    QUEUE_PREFIX: `t${randomBytes(5).toString('hex')}`,
    ...(backend === 'redis' ? { REDIS_URL: inject('redisUrl') } : {}),
    ...opts.env,
  };
  const config = loadConfig(env);
  const log = opts.log ?? testLogger();
  const pool = createPool({ connectionString: config.DATABASE_URL, max: 20, preparedStatements: config.DATABASE_PREPARED_STATEMENTS });
  const db = createDb(pool);
  const queues = createQueueBackend(config, log);
  const metrics = createMetrics({ process: 'test', queues: { backend: queues, names: allQueueNames(opts.registry) } });
  // As in apps/worker/main.ts: a credential cache kept current by the cancel listener.
  const credentialCache = opts.credentials ? undefined : cachedCredentials(credentialResolver(db, createKeyring(config.ENCRYPTION_KEYS)));
  const engine = engineDeps({ db, queues, config, log, registry: opts.registry, credentials: opts.credentials ?? credentialCache, hooks: metrics.hooks });
  const runEvents = createRunEventsHub({ db, databaseUrl: config.DATABASE_URL, log });
  const app = createApp({ db, queues, config, log, engine, queueNames: allQueueNames(engine.registry), metrics, runEvents });
  await ensureBootstrapKey(db, adminKey);
  const workers: JobWorker[] = [];
  const cancellations = listenForCancellations(config.DATABASE_URL, engine.aborts, log, { credentials: credentialCache, db });
  await cancellations.ready;
  const startWorkers = (concurrency = opts.concurrency ?? 10) => {
    const started = startConsumers(engine, { concurrency });
    workers.push(...started);
    return started;
  };
  if (opts.workers !== false) startWorkers();

  return {
    config,
    env,
    db,
    queues,
    engine,
    app,
    log,
    adminKey,
    workers,
    database,
    metrics,
    runEvents,
    startWorkers,
    async request(method, path, { body, key, headers } = {}) {
      const h: Record<string, string> = {};
      if (key !== null) h.authorization = `Bearer ${key ?? adminKey}`;
      if (body !== undefined) h['content-type'] = 'application/json';
      const init: RequestInit = { method, headers: { ...h, ...headers } };
      if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
      const res = await app.request(path, init);
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        // Not JSON: tests asserting the error shape will fail on the string.
      }
      return { status: res.status, body: parsed as any, headers: res.headers };
    },
    async close() {
      await runEvents.close();
      await Promise.allSettled(workers.map((w) => w.close(true)));
      await afterCommitsSettled(engine);
      await cancellations.close();
      for (const name of allQueueNames(engine.registry)) {
        await queues.queue(name).obliterate({ force: true }).catch(() => {});
      }
      await queues.close();
      await db.destroy();
      await database.drop();
    },
  };
}

/** Polls GET /v1/runs/:id until the run is terminal (or fails the test after `timeoutMs`). */
export async function waitForRun(stack: TestStack, runId: string, timeoutMs = 20_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await stack.request('GET', `/v1/runs/${runId}`);
    if (res.status !== 200) throw new Error(`GET run ${runId}: ${res.status} ${JSON.stringify(res.body)}`);
    if (['succeeded', 'failed', 'cancelled'].includes(res.body.status)) return res.body;
    if (Date.now() > deadline) throw new Error(`run ${runId} still ${res.body.status} after ${timeoutMs} ms: ${JSON.stringify(res.body.nodes)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Creates (or updates) a workflow, starts a run with `input` and waits for it to end. */
export async function runToCompletion(stack: TestStack, definition: { name: string } & Record<string, unknown>, input?: unknown, timeoutMs?: number) {
  const created = await stack.request('POST', '/v1/workflows', { body: definition });
  if (created.status === 409) {
    const updated = await stack.request('PUT', `/v1/workflows/${definition.name}`, { body: definition });
    if (updated.status !== 200) throw new Error(`update workflow: ${updated.status} ${JSON.stringify(updated.body)}`);
  } else if (created.status !== 201) {
    throw new Error(`create workflow: ${created.status} ${JSON.stringify(created.body)}`);
  }
  const started = await stack.request('POST', `/v1/workflows/${definition.name}/runs`, { body: { input } });
  if (started.status !== 202) throw new Error(`start run: ${started.status} ${JSON.stringify(started.body)}`);
  return waitForRun(stack, started.body.id, timeoutMs);
}
