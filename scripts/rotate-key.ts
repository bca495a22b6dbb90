import { createDb, createPool } from '../db/database.js';
import { loadConfigOrExit } from '../lib/config.js';
import { rotateCredentials } from '../lib/credentials/rotate.js';
import { createKeyring } from '../lib/crypto.js';
import { createLogger } from '../lib/logger.js';

/**
 * `npm run rotate-key`: re-encrypts every credential under the first key of ENCRYPTION_KEY.
 * Safe while web and workers run, once every process has the new key first in ENCRYPTION_KEY.
 * Exits 1 if any credential could not be re-encrypted (the report names them, never secrets).
 */
const config = loadConfigOrExit();
const log = createLogger({ level: config.LOG_LEVEL, name: 'rotate-key' });
const pool = createPool({ connectionString: config.DATABASE_URL, max: 2, applicationName: 'conveyor-rotate-key' });
const db = createDb(pool);
try {
  const keyring = createKeyring(config.ENCRYPTION_KEYS);
  const report = await rotateCredentials(db, keyring, { log });
  const ok = report.failed.length === 0 && report.remaining === 0;
  const summary = { currentKeyId: keyring.currentKeyId, rotated: report.rotated, raced: report.raced, failed: report.failed, remaining: report.remaining };
  if (ok) log.info(summary, 'every credential is under the current key');
  else log.error(summary, 'some credentials are not under the current key: see failed');
  process.exitCode = ok ? 0 : 1;
} catch (err) {
  log.error({ err }, 'key rotation failed');
  process.exitCode = 1;
} finally {
  await db.destroy();
}
