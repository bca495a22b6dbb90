import type { Database } from '../../db/database.js';
import { hitRateWindow } from '../../db/rate-windows.js';
import { AppError } from '../errors.js';

/**
 * Per-path fixed one-minute windows counted in Postgres, so every web process (on either queue
 * backend) shares one count. Past the limit: 429 with `Retry-After` until the window resets.
 */
export async function checkWebhookRate(db: Database, path: string, perMinute: number): Promise<void> {
  const { count, resetSeconds } = await hitRateWindow(db, 'webhookPath', path);
  if (count > perMinute) {
    throw new AppError(429, 'rate_limited', `This webhook accepts ${perMinute} requests a minute; retry in ${resetSeconds} s.`, undefined, {
      'Retry-After': String(resetSeconds),
    });
  }
}
