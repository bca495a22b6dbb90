import { hostname } from 'node:os';
import { createDb } from '../../db/database.js';
import { loadConfigOrExit } from '../../lib/config.js';
import { processPool } from '../../lib/process-pool.js';
import { cachedCredentials } from '../../lib/credentials/cache.js';
import { credentialResolver } from '../../lib/credentials/resolver.js';
import { createKeyring } from '../../lib/crypto.js';
import { listenForCancellations } from '../../lib/engine/cancel-listener.js';
import { engineDeps } from '../../lib/engine/engine-deps.js';
import { createLogger } from '../../lib/logger.js';
import { createMetrics, serveMetrics } from '../../lib/metrics.js';
import { createQueueBackend, type JobWorker } from '../../lib/queue.js';
import { installShutdown } from '../../lib/shutdown.js';
import { startHeartbeat, type Heartbeat } from '../../lib/workers/heartbeat.js';
import { assertMigrated } from '../../lib/startup.js';
import { startConsumers } from './consumers.js';

const config = loadConfigOrExit();
const log = createLogger({ level: config.LOG_LEVEL, name: 'worker' });
const pool = processPool(config, 'worker', log);
const db = createDb(pool);
const queues = createQueueBackend(config, log);
const metrics = createMetrics({ process: 'worker', inFlight: () => deps.aborts.inFlight });
// Decrypted credentials are reused for a few seconds; the cancel listener's connection also
// LISTENs for credential changes and drops the changed workspace's entries.
const credentials = cachedCredentials(credentialResolver(db, createKeyring(config.ENCRYPTION_KEYS)));
const deps = engineDeps({ db, queues, config, log, hooks: metrics.hooks, credentials });
const cancellations = listenForCancellations(config.DATABASE_URL, deps.aborts, log, { credentials });
// No sandbox thread is started ahead: plain path expressions are resolved in-process, so many
// workers never need one (16 MB each); the first expression that does waits ~90 ms for its boot.

let workers: JobWorker[] = [];
let heartbeat: Heartbeat | undefined;
let metricsServer: ReturnType<typeof serveMetrics> | undefined;
// Installed before the start-up wait, so a SIGTERM while waiting for the database exits cleanly too.
installShutdown(log, config.SHUTDOWN_GRACE_MS, [
  // Worker.close() stops taking jobs and waits for the in-flight ones to finish.
  { name: 'workers', close: () => Promise.all(workers.map((w) => w.close())) },
  // After the drain: the row then says "stopped", not "stuck".
  { name: 'heartbeat', close: async () => heartbeat?.stop() },
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
