import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import { createDb } from '../../db/database.js';
import { ensureBootstrapKey } from '../../lib/auth/bootstrap.js';
import { loadConfigOrExit } from '../../lib/config.js';
import { processPool } from '../../lib/process-pool.js';
import { engineDeps } from '../../lib/engine/engine-deps.js';
import { allQueueNames } from '../../lib/engine/queues.js';
import { createLogger } from '../../lib/logger.js';
import { createMetrics } from '../../lib/metrics.js';
import { createQueueBackend } from '../../lib/queue.js';
import { createRunEventsHub } from '../../lib/run-events-hub.js';
import { installShutdown } from '../../lib/shutdown.js';
import { createApp } from './app.js';
import { answerClientErrors } from './client-errors.js';

const config = loadConfigOrExit();
const log = createLogger({ level: config.LOG_LEVEL, name: 'web' });
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

const queueNames = allQueueNames();
const runEvents = createRunEventsHub({ db, databaseUrl: config.DATABASE_URL, log });
const metrics = createMetrics({ process: 'web', queues: { backend: queues, names: queueNames }, gauges: { conveyor_sse_subscribers: { help: 'Clients streaming run events from this web process', read: () => runEvents.stats().subscribers } } });
const engine = engineDeps({ db, queues, config, log, hooks: metrics.hooks });
const app = createApp({ db, queues, config, log, engine, queueNames, metrics, runEvents });
// Serve once the queue answers (bounded): a request in the first milliseconds would find the
// producer still connecting. If it does not answer, serve anyway and let /readyz say why.
await queues.ping(5_000).catch((err) => log.warn({ err: (err as Error).message }, 'queue backend not reachable yet; serving, /readyz reports it'));
const server = serve({ fetch: app.fetch, port: config.PORT, hostname: '0.0.0.0' }, (info) => {
  log.info({ port: info.port, queue: queues.description, database: pool.options.host ?? 'url' }, 'web listening');
});
answerClientErrors(server as Server, log);

installShutdown(log, config.SHUTDOWN_GRACE_MS, [
  // Event streams never end by themselves soon enough: end them, so the HTTP server can close.
  { name: 'run events', close: () => runEvents.close() },
  // Stop accepting connections and let in-flight requests finish; idle keep-alives are closed.
  { name: 'http', close: () => new Promise<void>((resolve) => { server.close(() => resolve()); (server as unknown as { closeIdleConnections?: () => void }).closeIdleConnections?.(); }) },
  { name: 'queues', close: () => queues.close() },
  { name: 'database', close: () => db.destroy() },
]);
