import cron from 'node-cron';
import { createDb, createPool } from '../../db/database.js';
import { loadConfigOrExit } from '../../lib/config.js';
import { engineDeps } from '../../lib/engine/engine-deps.js';
import { sweep } from '../../lib/engine/sweeper.js';
import { createLogger } from '../../lib/logger.js';
import { createQueueBackend } from '../../lib/queue.js';
import { installShutdown } from '../../lib/shutdown.js';

const config = loadConfigOrExit();
const log = createLogger({ level: config.LOG_LEVEL, name: 'scheduler' });
const pool = createPool({ connectionString: config.DATABASE_URL, max: 5, applicationName: 'conveyor-scheduler' });
const db = createDb(pool);
const queues = createQueueBackend(config, log);
const deps = engineDeps({ db, queues, config, log });

// Every 10 s; the advisory lock inside makes concurrent schedulers take turns, never double-sweep.
const sweeper = cron.schedule(
  '*/10 * * * * *',
  async () => {
    try {
      const result = await sweep(deps);
      if (result.reenqueued > 0) log.info(result, 'sweep');
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'sweep failed; next tick retries');
    }
  },
  { noOverlap: true, name: 'sweeper' },
);
log.info({ queue: queues.description }, 'scheduler started: sweeping every 10 s');

installShutdown(log, config.SHUTDOWN_GRACE_MS, [
  { name: 'cron', close: async () => void (await sweeper.stop()) },
  { name: 'queues', close: () => queues.close() },
  { name: 'database', close: () => db.destroy() },
]);
