import { randomUUID } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { Logger } from '../../../lib/logger.js';
import type { ApiEnv } from '../context.js';

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** A request id (the caller's X-Request-Id when sane), a child logger, and one access-log line. */
export function requestContext(log: Logger): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const given = c.req.header('x-request-id');
    const requestId = given && REQUEST_ID.test(given) ? given : randomUUID();
    const reqLog = log.child({ requestId });
    c.set('requestId', requestId);
    c.set('log', reqLog);
    const started = performance.now();
    await next();
    c.header('X-Request-Id', requestId);
    const status = c.res.status;
    const line = { method: c.req.method, path: c.req.path, status, ms: Math.round(performance.now() - started) };
    if (status >= 500) reqLog.error(line, 'request');
    else reqLog.debug(line, 'request');
  };
}
