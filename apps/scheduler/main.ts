import { createDb } from '../../db/database.js';
import { loadConfigOrExit } from '../../lib/config.js';
import { processPool } from '../../lib/process-pool.js';
import { engineDeps } from '../../lib/engine/engine-deps.js';
import { createLogger } from '../../lib/logger.js';
import { loadRegistryOrExit } from '../../lib/providers/plugins.js';
import { createQueueBackend } from '../../lib/queue.js';
import { installShutdown } from '../../lib/shutdown.js';
import { startTracing, traceLogMixin } from '../../lib/tracing/index.js';
import { assertMigrated } from '../../lib/startup.js';
import { watchConsumers } from '../../lib/workers/watch.js';
import { startHousekeeping } from './housekeeping.js';
import { startReconciler } from './reconcile.js';
import { startTickConsumer, TICK_CONCURRENCY } from './ticks.js';

const config = loadConfigOrExit();
const log = createLogger({ level: config.LOG_LEVEL, name: 'scheduler', mixin: traceLogMixin(config) });
const registry = await loadRegistryOrExit(config.CONVEYOR_PLUGINS);
// A tick of an overlap "skip" schedule holds a lock while it creates the run on a second
// connection: with fewer connections than ticks in flight plus one, they could all hold and wait.
const SCHEDULER_MIN_POOL = TICK_CONCURRENCY + 1;
const pool = processPool(config, 'scheduler', log, SCHEDULER_MIN_POOL);
const db = createDb(pool);
const queues = createQueueBackend(config, log);
const deps = engineDeps({ db, queues, config, log, registry });
const settings = { misfireGraceMs: config.SCHEDULE_MISFIRE_GRACE_MS };
// OpenTelemetry when OTEL_EXPORTER_OTLP_ENDPOINT is set (schedule ticks' run spans); otherwise nothing is loaded.
const tracing = await startTracing(config, { service: 'conveyor-scheduler', log });

let ticks: ReturnType<typeof startTickConsumer> | undefined;
let reconciler: ReturnType<typeof startReconciler> | undefined;
let housekeeping: ReturnType<typeof startHousekeeping> | undefined;
let consumerWatch: ReturnType<typeof watchConsumers> | undefined;
// Installed before the start-up wait, so a SIGTERM while waiting for the database exits cleanly too.
installShutdown(log, config.SHUTDOWN_GRACE_MS, [
  { name: 'cron', close: async () => housekeeping?.stop() },
  { name: 'consumer watch', close: async () => consumerWatch?.close() },
  { name: 'reconciler', close: async () => reconciler?.close() },
  // Lets a tick in flight finish creating its run.
  { name: 'ticks', close: async () => ticks?.close() },
  { name: 'tracing', close: () => tracing.close() },
  { name: 'queues', close: () => queues.close() },
  { name: 'database', close: () => db.destroy() },
]);

await assertMigrated(db, queues, log);
ticks = startTickConsumer(deps, settings);
reconciler = startReconciler(deps, { databaseUrl: config.DATABASE_URL, settings });
housekeeping = startHousekeeping(deps, config);
consumerWatch = watchConsumers(deps, config);

await reconciler.ready;
log.info({ queue: queues.description, retentionDays: config.RETENTION_DAYS }, 'scheduler started: firing schedules, sweeping every 10 s, pruning every 10 min');
