import type { Database } from '../../db/database.js';
import type { Principal } from '../../db/api-keys.js';
import type { Config } from '../../lib/config.js';
import type { EngineDeps } from '../../lib/engine/deps.js';
import type { Logger } from '../../lib/logger.js';
import type { Metrics } from '../../lib/metrics.js';
import type { People } from '../../lib/people/deps.js';
import type { QueueBackend } from '../../lib/queue.js';
import type { RunEventsHub } from '../../lib/run-events-hub.js';

/** Everything the web process's routes need, built once by main.ts (or by a test). */
export interface ApiDeps {
  db: Database;
  queues: QueueBackend;
  config: Config;
  log: Logger;
  engine: EngineDeps;
  /** Queues shown in Bull Board. */
  queueNames: readonly string[];
  /** This process's registry for GET /metrics (default: a new one; pass `metrics.hooks` to the engine too). */
  metrics?: Metrics;
  /** The SSE fan-out (default: a new one, connecting on first use); main.ts closes it on shutdown. */
  runEvents?: RunEventsHub;
  /** People's accounts: the system mailer and single sign-on (default: built from config). */
  people?: People;
}

export interface ApiEnv {
  Variables: {
    requestId: string;
    log: Logger;
    principal: Principal;
  };
}
