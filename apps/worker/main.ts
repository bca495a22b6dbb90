import { hostname } from 'node:os';
import { createDb } from '../../db/database.js';
import { loadConfigOrExit } from '../../lib/config.js';
import { processPool } from '../../lib/process-pool.js';
import { cachedCredentials } from '../../lib/credentials/cache.js';
import { credentialResolver } from '../../lib/credentials/resolver.js';
import { createKeyring } from '../../lib/crypto.js';
import { listenForCancellations } from '../../lib/engine/cancel-listener.js';
import { engineDeps } from '../../lib/engine/engine-deps.js';
import { afterCommitsSettled } from '../../lib/engine/tx.js';
import { createLogger } from '../../lib/logger.js';
import { createMetrics, serveMetrics } from '../../lib/metrics.js';
import { loadRegistryOrExit } from '../../lib/providers/plugins.js';
import { createQueueBackend, type JobWorker } from '../../lib/queue.js';
import { installShutdown } from '../../lib/shutdown.js';
import { startTracing, traceLogMixin } from '../../lib/tracing/index.js';
import { startHeartbeat, type Heartbeat } from '../../lib/workers/heartbeat.js';
import { assertMigrated } from '../../lib/startup.js';
import { startConsumers } from './consumers.js';

const config = loadConfigOrExit();
const log = createLogger({ level: config.LOG_LEVEL, name: 'worker', mixin: traceLogMixin(config) });
// A provider (a plugin above all) may leave a promise rejecting after its node ended. Node's
// default would kill every node in flight here for it; the state they wrote is in PostgreSQL
// behind conditional updates, so logging it and going on is safe.
process.on('unhandledRejection', (reason) => {
  log.error({ err: reason instanceof Error ? reason.message : String(reason) }, 'unhandled rejection (a provider left a promise unawaited); the worker keeps running');
});
const registry = await loadRegistryOrExit(config.CONVEYOR_PLUGINS);
const pool = processPool(config, 'worker', log);
const db = createDb(pool);
const queues = createQueueBackend(config, log);
const metrics = createMetrics({ process: 'worker', inFlight: () => deps.aborts.inFlight });
// OpenTelemetry when OTEL_EXPORTER_OTLP_ENDPOINT is set; otherwise nothing is loaded.
const tracing = await startTracing(config, { service: 'conveyor-worker', log, registry: metrics.registry });
// Decrypted credentials are reused for a few seconds; the cancel listener's connection also
// LISTENs for credential changes and drops the changed workspace's entries.
const credentials = cachedCredentials(credentialResolver(db, createKeyring(config.ENCRYPTION_KEYS)));
const deps = engineDeps({ db, queues, config, log, hooks: metrics.hooks, credentials, registry });
const cancellations = listenForCancellations(config.DATABASE_URL, deps.aborts, log, { credentials, db });
// No sandbox thread is started ahead: plain path expressions are resolved in-process, so many
// workers never need one (16 MB each); the first expression that does waits ~90 ms for its boot.

let workers: JobWorker[] = [];
let heartbeat: Heartbeat | undefined;
let metricsServer: ReturnType<typeof serveMetrics> | undefined;
// Installed before the start-up wait, so a SIGTERM while waiting for the database exits cleanly too.
installShutdown(log, config.SHUTDOWN_GRACE_MS, [
  // Worker.close() stops taking jobs and waits for the in-flight ones to finish.
  { name: 'workers', close: () => Promise.all(workers.map((w) => w.close())) },
  // The drained nodes' successors' jobs, still on their way to the queue.
  { name: 'queue work', close: () => afterCommitsSettled(deps) },
  // After the drain: the row then says "stopped", not "stuck".
  { name: 'heartbeat', close: async () => heartbeat?.stop() },
  // The drained nodes' spans, flushed with a bounded wait.
  { name: 'tracing', close: () => tracing.close() },
  { name: 'metrics', close: async () => metricsServer?.close() },
  { name: 'cancel listener', close: () => cancellations.close() },
  { name: 'queues', close: () => queues.close() },
  { name: 'database', close: () => db.destroy() },
]);

await assertMigrated(db, queues, log);
workers = startConsumers(deps, { concurrency: config.WORKER_CONCURRENCY, queues: config.WORKER_QUEUES });
heartbeat = startHeartbeat({ db, log, workers, concurrency: config.WORKER_CONCURRENCY, intervalMs: config.WORKER_HEARTBEAT_MS, inFlight: () => deps.aborts.inFlight });
metricsServer = config.METRICS_PORT ? serveMetrics(metrics, { port: config.METRICS_PORT, token: config.METRICS_TOKEN, log }) : undefined;

// Logged only once SIGTERM is handled: a supervisor may signal as soon as it reads this line.
log.info({ workerId: heartbeat.id, pid: process.pid, host: hostname(), queues: workers.map((w) => w.name), concurrency: config.WORKER_CONCURRENCY, backend: queues.description }, 'worker consuming');
