import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ZodError } from 'zod';
import { isConnectionUnavailable } from '../../db/errors.js';
import { AppError, badRequest, type ErrorDetail } from '../../lib/errors.js';
import type { ApiEnv } from './context.js';

/** The one error shape of DESIGN.md: `{"error":{"code","message","details"?}}`. */
export function errorBody(code: string, message: string, details?: ErrorDetail[]) {
  return { error: details && details.length > 0 ? { code, message, details } : { code, message } };
}

export function zodDetails(error: ZodError, base = ''): ErrorDetail[] {
  return error.issues.map((issue) => ({
    pointer: `${base}/${issue.path.map((p) => String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join('/')}`.replace(/\/$/, '') || '/',
    message: issue.message,
  }));
}

export function validationError(error: ZodError, where: string) {
  return badRequest(`The request ${where} is invalid: see details.`, zodDetails(error));
}

/** Seconds a client is asked to wait when the database refuses connections: a restart or a burst passes in a few. */
export const DATABASE_RETRY_AFTER_S = 5;

/** Maps every thrown error to the JSON shape; unknown errors are logged and answered as a bare 500. */
export function handleError(err: Error, c: Context<ApiEnv>) {
  if (err instanceof AppError) {
    for (const [k, v] of Object.entries(err.headers ?? {})) c.header(k, v);
    return c.json(errorBody(err.code, err.message, err.details), err.status);
  }
  if (err instanceof HTTPException) {
    const status = err.status as ContentfulStatusCode;
    if (status === 401 && err.res) {
      const auth = err.res.headers.get('WWW-Authenticate');
      if (auth) c.header('WWW-Authenticate', auth);
    }
    const code = status === 413 ? 'payload_too_large' : status === 415 ? 'unsupported_media_type' : status === 401 ? 'unauthorized' : 'bad_request';
    return c.json(errorBody(code, err.message || 'Bad request'), status);
  }
  const requestId = c.get('requestId');
  if (isConnectionUnavailable(err)) {
    // Backpressure, not a bug: the pool already waited and retried (db/database.ts) before this.
    (c.get('log') ?? console).warn({ err: err.message, requestId }, 'database unavailable; answered 503');
    c.header('Retry-After', String(DATABASE_RETRY_AFTER_S));
    return c.json(errorBody('database_unavailable', `The database is not accepting connections right now (too many clients, or restarting). Retry in ${DATABASE_RETRY_AFTER_S} seconds.`), 503);
  }
  (c.get('log') ?? console).error({ err, requestId }, 'unhandled error');
  return c.json(errorBody('internal_error', `Something went wrong on our side. Quote request id ${requestId} when reporting it.`), 500);
}

export function handleNotFound(c: Context<ApiEnv>) {
  return c.json(errorBody('not_found', `No route for ${c.req.method} ${c.req.path}. See /docs for the API.`), 404);
}
