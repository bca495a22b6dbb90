import type { ServerResponse } from 'node:http';
import type { Context, MiddlewareHandler } from 'hono';
import type { ApiEnv } from '../context.js';

/** What Hono's `secureHeaders()` sends by default, with `Cross-Origin-Resource-Policy: same-origin`. */
export const SECURITY_HEADERS: readonly (readonly [string, string])[] = [
  ['Cross-Origin-Resource-Policy', 'same-origin'],
  ['Cross-Origin-Opener-Policy', 'same-origin'],
  ['Origin-Agent-Cluster', '?1'],
  ['Referrer-Policy', 'no-referrer'],
  ['Strict-Transport-Security', 'max-age=15552000; includeSubDomains'],
  ['X-Content-Type-Options', 'nosniff'],
  ['X-DNS-Prefetch-Control', 'off'],
  ['X-Download-Options', 'noopen'],
  ['X-Frame-Options', 'SAMEORIGIN'],
  ['X-Permitted-Cross-Domain-Policies', 'none'],
  ['X-XSS-Protection', '0'],
];

/** The Node response behind a request served by @hono/node-server (absent under `app.request`). */
function nodeResponse(c: Context<ApiEnv>): ServerResponse | undefined {
  const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
  return outgoing && typeof outgoing.setHeader === 'function' && !outgoing.headersSent ? outgoing : undefined;
}

/**
 * Headers every response carries, whoever made it (a route, onError, Bull Board's static files).
 * Served by Node, they go on the Node response before the handler runs, and Node merges them
 * into what the handler answers: a web `Headers` object per response (its validation and
 * sorting) cost more than routing a small request. Elsewhere they are set on the finished response.
 */
export function responseHeaders(extra: (c: Context<ApiEnv>) => readonly (readonly [string, string])[] = () => []): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const outgoing = nodeResponse(c);
    if (outgoing) {
      for (const [name, value] of SECURITY_HEADERS) outgoing.setHeader(name, value);
      for (const [name, value] of extra(c)) outgoing.setHeader(name, value);
      return next();
    }
    await next();
    const headers = c.res.headers;
    for (const [name, value] of SECURITY_HEADERS) headers.set(name, value);
    for (const [name, value] of extra(c)) headers.set(name, value);
  };
}
