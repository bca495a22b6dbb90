import { createDb } from '../../db/database.js';
import { ensureBootstrapKey } from '../../lib/auth/bootstrap.js';
import { loadConfigOrExit } from '../../lib/config.js';
import { processPool } from '../../lib/process-pool.js';
import { engineDeps } from '../../lib/engine/engine-deps.js';
import { allQueueNames } from '../../lib/engine/queues.js';
import { createLogger } from '../../lib/logger.js';
import { createMetrics } from '../../lib/metrics.js';
import { loadRegistryOrExit } from '../../lib/providers/plugins.js';
import { createQueueBackend } from '../../lib/queue.js';
import { createRunEventsHub } from '../../lib/run-events-hub.js';
import { installShutdown } from '../../lib/shutdown.js';
import { startTracing, traceLogMixin } from '../../lib/tracing/index.js';
import { createApp } from './app.js';
import { serveApi } from './server.js';

const config = loadConfigOrExit();
const log = createLogger({ level: config.LOG_LEVEL, name: 'web', mixin: traceLogMixin(config) });
const registry = await loadRegistryOrExit(config.CONVEYOR_PLUGINS);
const pool = processPool(config, 'web', log);
const db = createDb(pool);
const queues = createQueueBackend(config, log);

if (config.BOOTSTRAP_API_KEY) {
  try {
    const { created } = await ensureBootstrapKey(db, config.BOOTSTRAP_API_KEY);
    if (created) log.info('bootstrap admin key created in the default workspace');
  } catch (err) {
    // Usually migrations not applied yet: /readyz says so, and the key is retried at next start.
    log.error({ err: (err as Error).message }, 'could not ensure BOOTSTRAP_API_KEY; is the database migrated?');
  }
}

const queueNames = allQueueNames(registry);
const runEvents = createRunEventsHub({ db, databaseUrl: config.DATABASE_URL, log });
const metrics = createMetrics({ process: 'web', queues: { backend: queues, names: queueNames }, gauges: { conveyor_sse_subscribers: { help: 'Clients streaming run events from this web process', read: () => runEvents.stats().subscribers } } });
// OpenTelemetry when OTEL_EXPORTER_OTLP_ENDPOINT is set; otherwise nothing is loaded.
const tracing = await startTracing(config, { service: 'conveyor-web', log, registry: metrics.registry });
const engine = engineDeps({ db, queues, config, log, hooks: metrics.hooks, registry });
const app = createApp({ db, queues, config, log, engine, queueNames, metrics, runEvents });
// Serve once the queue answers (bounded): a request in the first milliseconds would find the
// producer still connecting. If it does not answer, serve anyway and let /readyz say why.
await queues.ping(5_000).catch((err) => log.warn({ err: (err as Error).message }, 'queue backend not reachable yet; serving, /readyz reports it'));
const server = serveApi(app, config, log, { port: config.PORT, hostname: '0.0.0.0' }, (info) => {
  log.info({ port: info.port, queue: queues.description, database: pool.options.host ?? 'url' }, 'web listening');
});

installShutdown(log, config.SHUTDOWN_GRACE_MS, [
  // Event streams never end by themselves soon enough: end them, so the HTTP server can close.
  { name: 'run events', close: () => runEvents.close() },
  // Stop accepting connections and let in-flight requests finish; idle keep-alives are closed.
  { name: 'http', close: () => new Promise<void>((resolve) => { server.close(() => resolve()); (server as unknown as { closeIdleConnections?: () => void }).closeIdleConnections?.(); }) },
  // The last requests' run spans, flushed with a bounded wait.
  { name: 'tracing', close: () => tracing.close() },
  { name: 'queues', close: () => queues.close() },
  { name: 'database', close: () => db.destroy() },
]);
