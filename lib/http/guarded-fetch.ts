import { permanent } from '../providers/errors.js';
import { policyFor } from './address-policy.js';
import { guardedRequest } from './guarded-request.js';

export interface GuardedFetchOptions {
  /** HTTP_ALLOW_HOSTS. */
  allowHosts: readonly string[];
  maxResponseBytes: number;
  /** Aborts every request made through this fetch (the node's signal). */
  signal: AbortSignal;
  /** The node's credential values: a header carrying one is dropped when a redirect leaves the origin. */
  secrets?: readonly string[];
}

export type Fetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** Statuses whose Response may carry no body (the Response constructor refuses one). */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * `ctx.fetch`: the WHATWG fetch signature, answered with a standard Response, sent through
 * guardedRequest — so the same SSRF guard as http.request applies (connect-time address check,
 * every redirect hop), the body is capped at `maxResponseBytes`, Authorization, Cookie and any
 * header holding the credential are dropped across origins, and whatever guardedRequest adds
 * (trace context) is sent too. Redirects are followed (at most 5; `redirect: 'error'` refuses
 * them). Failures reject with ProviderErrors (`ssrf_blocked`, `invalid_url`, …), not TypeError.
 */
export function guardedFetch(opts: GuardedFetchOptions): Fetch {
  return async (input, init) => {
    let request: Request;
    try {
      request = new Request(input, init);
    } catch (err) {
      // The URL, or the rest (a GET with a body, a forbidden mode): either fails the same way again.
      const badUrl = typeof input === 'string' && !URL.canParse(input);
      throw permanent(badUrl ? 'invalid_url' : 'invalid_request', `fetch: ${(err as Error).message}`);
    }
    const url = new URL(request.url);
    const headers: Record<string, string> = {};
    request.headers.forEach((value, name) => (headers[name] = value));
    const body = request.body === null ? undefined : Buffer.from(await request.arrayBuffer());
    const secrets = (opts.secrets ?? []).filter((s) => s.length >= 4);
    const sensitiveHeaders = Object.entries(headers).flatMap(([name, value]) => (secrets.some((s) => value.includes(s)) ? [name] : []));
    const signal = init?.signal ? AbortSignal.any([opts.signal, init.signal]) : opts.signal;
    const res = await guardedRequest({
      method: request.method,
      url: url.toString(),
      headers,
      body,
      signal,
      policy: policyFor(opts.allowHosts),
      maxResponseBytes: opts.maxResponseBytes,
      sensitiveHeaders: ['proxy-authorization', ...sensitiveHeaders],
      maxRedirects: request.redirect === 'error' ? 0 : 5,
    });
    const empty = NULL_BODY.has(res.status) || request.method === 'HEAD';
    const response = new Response(empty ? null : new Uint8Array(res.body), { status: res.status, headers: res.headers });
    // A constructed Response has an empty url; a fetched one says where it ended up.
    Object.defineProperty(response, 'url', { value: res.url });
    Object.defineProperty(response, 'redirected', { value: res.url !== url.toString() });
    return response;
  };
}
