import { createDb, createPool } from '../db/database.js';
import { migrateToLatest } from '../db/migrate.js';
import { loadConfigOrExit } from '../lib/config.js';
import { createLogger } from '../lib/logger.js';
import { migrateQueueBackend } from '../lib/queue.js';

/** `npm run migrate` and the Procfile's release phase: our schema, then BullMQ's when it lives in Postgres. */
const config = loadConfigOrExit();
const log = createLogger({ level: config.LOG_LEVEL, name: 'migrate' });
const pool = createPool({ connectionString: config.DATABASE_URL, max: 1, applicationName: 'conveyor-migrate' });
try {
  const applied = await migrateToLatest(createDb(pool));
  const queueVersion = await migrateQueueBackend(config);
  log.info({ applied, queueSchemaVersion: queueVersion ?? 'n/a (redis)' }, applied.length ? 'migrations applied' : 'schema up to date');
} catch (err) {
  log.error({ err }, 'migration failed');
  process.exitCode = 1;
} finally {
  await pool.end();
}
