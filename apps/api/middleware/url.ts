import type { MiddlewareHandler } from 'hono';
import { badRequest } from '../../../lib/errors.js';
import type { ApiEnv } from '../context.js';

const MAX_URL_LENGTH = 8192;

function decodes(part: string): string | undefined {
  try {
    return decodeURIComponent(part.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/**
 * Path and query must percent-decode to UTF-8 without NUL: Hono would otherwise hand a raw
 * `%ff` or a decoded `\0` to a handler, and PostgreSQL refuses `\0` in text with an error.
 */
export function saneUrls(): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const raw = c.req.raw.url;
    if (raw.length > MAX_URL_LENGTH) throw badRequest(`URLs are limited to ${MAX_URL_LENGTH} characters.`, undefined, 'invalid_url');
    // Without a percent sign there is nothing to decode (a raw NUL or byte >0x7f arrives percent-encoded).
    if (!raw.includes('%')) return next();
    const url = new URL(raw);
    const parts = [url.pathname, ...url.search.slice(1).split('&').flatMap((pair) => pair.split('='))];
    for (const part of parts) {
      const decoded = decodes(part);
      if (decoded === undefined) throw badRequest('The URL has malformed percent-encoding or is not UTF-8.', undefined, 'invalid_url');
      if (decoded.includes('\u0000')) throw badRequest('The URL contains a NUL character.', undefined, 'invalid_url');
    }
    await next();
  };
}
