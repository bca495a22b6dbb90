import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Config } from '../../../lib/config.js';
import { AppError, badRequest, tooLarge } from '../../../lib/errors.js';
import { assertStorable } from '../../../lib/json-storable.js';
import type { ApiEnv } from '../context.js';

/** Every route's body cap: room for the largest run input (JSON-escaped), and never under 2 MiB. */
export function maxBodyBytes(config: Pick<Config, 'MAX_RUN_INPUT_BYTES'>): number {
  return Math.max(config.MAX_RUN_INPUT_BYTES * 2, 2 * 1024 * 1024);
}

/**
 * Counts bytes as they stream in (chunked bodies too) and answers 413 past `maxBytes`.
 * `except` leaves a path prefix to a limit mounted after its authentication, so an anonymous
 * caller cannot make the server buffer a body it will refuse anyway.
 */
export function limitBody(maxBytes: number, opts: { except?: string } = {}): MiddlewareHandler<ApiEnv> {
  const refuse = () => {
    throw tooLarge(`Request bodies are limited to ${maxBytes} bytes.`);
  };
  const streamed = bodyLimit({ maxSize: maxBytes, onError: refuse });
  const limit: MiddlewareHandler<ApiEnv> = (c, next) => {
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next();
    // A declared length is the size (Node's parser delivers exactly that many bytes): checked
    // without touching `c.req.raw.body`, which would turn the request into a web stream and cost
    // more than the rest of a small request. A body without one is counted as it streams in.
    const declared = c.req.header('content-length');
    if (declared === undefined || c.req.header('transfer-encoding') !== undefined) return streamed(c, next);
    if (Number.parseInt(declared, 10) > maxBytes) refuse();
    return next();
  };
  const except = opts.except;
  if (!except) return limit;
  return (c, next) => (c.req.path === except || c.req.path.startsWith(`${except}/`) ? next() : limit(c, next));
}

/** Deeper than any workflow or run input needs; bounds every recursive walk after this one. */
export { MAX_JSON_DEPTH } from '../../../lib/json-storable.js';
const JSON_TYPE = /^application\/([\w.-]+\+)?json\s*(;|$)/i;
const CHARSET = /;\s*charset\s*=\s*"?([^";\s]+)"?/i;
const WITH_BODY = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Whether a request carries a body (maybe empty), asked of its headers first: `c.req.raw.body` costs a web stream. */
function hasBody(c: Context<ApiEnv>): boolean {
  if (c.req.header('content-length') !== undefined || c.req.header('transfer-encoding') !== undefined) return true;
  // Neither is no body on the wire; a Request built in-process (tests) may still hold one.
  return c.req.raw.body !== null;
}

const unsupported = () =>
  new AppError(415, 'unsupported_media_type', 'Send the body as JSON with `Content-Type: application/json` (UTF-8).');

/**
 * The JSON API's edge: a non-empty body must be UTF-8 JSON declared as such, and must be
 * storable as sent (lib/json-storable.ts: no NUL or lone surrogates, no number beyond a double's
 * range, no absurd nesting). Every /v1 body passes here: run inputs, workflow definitions,
 * signal payloads. An empty body counts as none, so optional-body routes work without a Content-Type.
 */
export function jsonBodies(): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    if (!WITH_BODY.has(c.req.method) || !hasBody(c)) return next();
    const bytes = new Uint8Array(await c.req.arrayBuffer());
    if (bytes.byteLength === 0) {
      const headers = new Headers(c.req.raw.headers);
      headers.delete('content-type');
      c.req.raw = new Request(c.req.raw.url, { method: c.req.method, headers, signal: c.req.raw.signal });
      return next();
    }
    const type = c.req.header('content-type') ?? '';
    const charset = CHARSET.exec(type)?.[1]?.toLowerCase();
    if (!JSON_TYPE.test(type) || (charset && charset !== 'utf-8' && charset !== 'utf8')) throw unsupported();
    let text: string;
    try {
      text = utf8.decode(bytes);
    } catch {
      throw badRequest('The request body is not valid UTF-8.', undefined, 'invalid_utf8');
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw badRequest(`The request body is not valid JSON: ${(err as Error).message.slice(0, 200)}`, undefined, 'malformed_json');
    }
    assertStorable(value);
    // Hono's body cache already holds the bytes (arrayBuffer() above); the decoded text joins it,
    // so the route's validator reads it from memory rather than a rebuilt Request.
    (c.req.bodyCache as Record<string, unknown>).text = Promise.resolve(text); // Hono keeps promises there; its type says values
    await next();
  };
}
