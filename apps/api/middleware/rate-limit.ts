import type { MiddlewareHandler } from 'hono';
import { hitRateWindow } from '../../../db/rate-windows.js';
import type { Database } from '../../../db/database.js';
import { AppError } from '../../../lib/errors.js';
import type { ApiEnv } from '../context.js';
import { callerOf } from './auth.js';

/**
 * `rateLimitPerMinute` of the calling key, counted in Postgres so that every web process (and
 * both queue backends) share one count. Keys without a limit cost nothing here. Past the
 * limit: 429 with `Retry-After` (seconds until the minute window resets).
 */
export function rateLimit(db: Database): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const caller = callerOf(c);
    const limit = caller?.rateLimitPerMinute;
    if (!caller?.keyId || !limit) return next();
    const { count, resetSeconds } = await hitRateWindow(db, 'apiKey', caller.keyId);
    c.header('RateLimit-Limit', String(limit));
    c.header('RateLimit-Remaining', String(Math.max(0, limit - count)));
    c.header('RateLimit-Reset', String(resetSeconds));
    if (count > limit) {
      throw new AppError(429, 'rate_limited', `This key may make ${limit} requests a minute; retry in ${resetSeconds} s.`, undefined, {
        'Retry-After': String(resetSeconds),
      });
    }
    await next();
  };
}
