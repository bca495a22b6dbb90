import { randomUUID } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { lazyLogger, type Logger } from '../../../lib/logger.js';
import type { ApiEnv } from '../context.js';
import { callerOf } from './auth.js';

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;
/** Paths that carry a one-time token (invitations, password resets): logged without it. */
const TOKEN_PATH = /^(\/ui\/(?:invite|password-reset)\/)[^/]+/;

export function loggablePath(path: string): string {
  return path.replace(TOKEN_PATH, '$1[token]');
}

/**
 * A request id (the caller's X-Request-Id when sane, answered in X-Request-Id by app.ts), a
 * child logger, and one access-log line.
 * The child logger (request id, and the caller's key and workspace once authenticated) is made
 * when first used: most requests log nothing at info, and making one per request (its bindings
 * serialised and redacted) cost more than routing the request.
 */
export function requestContext(log: Logger): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const given = c.req.header('x-request-id');
    const requestId = given && REQUEST_ID.test(given) ? given : randomUUID();
    let reqLog: Logger | undefined;
    const child = () => {
      if (reqLog) return reqLog;
      const caller = callerOf(c);
      reqLog = log.child(caller ? { requestId, ...(caller.keyId ? { keyId: caller.keyId } : { userId: caller.userId }), workspaceId: caller.workspaceId } : { requestId });
      return reqLog;
    };
    c.set('requestId', requestId);
    c.set('log', lazyLogger(child));
    const started = performance.now();
    await next();
    const status = c.res.status;
    if (status < 500 && !log.isLevelEnabled('debug')) return;
    const line = { method: c.req.method, path: loggablePath(c.req.path), status, ms: Math.round(performance.now() - started) };
    if (status >= 500) child().error(line, 'request');
    else child().debug(line, 'request');
  };
}
