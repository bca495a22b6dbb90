import { z } from 'zod';
import { policyFor } from '../http/address-policy.js';
import { guardedRequest, parseUrl, redact } from '../http/guarded-request.js';
import { permanent, transient } from './errors.js';
import { defineProvider, type Json, type ProviderContext } from './types.js';

const params = z
  .object({
    method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']).default('GET'),
    url: z.string().min(1).max(8192).describe('http(s) URL; internal addresses are refused unless in HTTP_ALLOW_HOSTS'),
    headers: z.record(z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$/, 'must be an HTTP header name'), z.string().max(16_384).regex(/^[^\r\n\0]*$/, 'must not contain CR, LF or NUL')).optional(),
    query: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
    body: z.unknown().optional().describe('objects and arrays are sent as JSON, strings as text'),
    ignoreStatus: z.boolean().default(false).describe('true: a non-2xx answer is an output, not a failure'),
  })
  .strict();

/** `bearer`, `basic` and `header` credentials become a header the node's params never see. */
function credentialHeader(ctx: ProviderContext<unknown>): [string, string] | undefined {
  const c = ctx.credential;
  if (!c) return undefined;
  switch (c.type) {
    case 'bearer':
      return ['authorization', `Bearer ${c.data.token}`];
    case 'basic':
      return ['authorization', `Basic ${Buffer.from(`${c.data.username}:${c.data.password}`).toString('base64')}`];
    case 'header':
      return [String(c.data.name).toLowerCase(), String(c.data.value)];
    default:
      throw permanent('credential_type', `http.request cannot use a ${c.type} credential`);
  }
}

export default defineProvider({
  type: 'http.request',
  description: 'Calls an HTTP endpoint (SSRF-guarded). Output: {status, headers, body}; JSON bodies are parsed.',
  params,
  credential: ['bearer', 'basic', 'header'],
  async run(ctx) {
    const p = ctx.params;
    const url = parseUrl(p.url);
    for (const [k, v] of Object.entries(p.query ?? {})) url.searchParams.append(k, String(v));
    const headers: Record<string, string> = Object.fromEntries(Object.entries(p.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
    let body: string | undefined;
    if (p.body !== undefined && p.body !== null) {
      body = typeof p.body === 'string' ? p.body : JSON.stringify(p.body);
      headers['content-type'] ??= typeof p.body === 'string' ? 'text/plain; charset=utf-8' : 'application/json';
    }
    const auth = credentialHeader(ctx);
    if (auth) headers[auth[0]] = auth[1];
    const res = await guardedRequest({
      method: p.method,
      url: url.toString(),
      headers,
      body,
      signal: ctx.signal,
      policy: policyFor(ctx.settings.httpAllowHosts),
      maxResponseBytes: ctx.settings.maxResponseBytes,
      sensitiveHeaders: auth ? [auth[0]] : [],
    });
    if (!p.ignoreStatus && (res.status < 200 || res.status > 299)) {
      // Retryable: a 5xx or 429 often passes on the next attempt, and the node's retry policy bounds it.
      throw transient('http_status', `${p.method} ${redact(res.url)} answered ${res.status}`);
    }
    return { status: res.status, headers: res.headers, body: decode(res.body, res.headers['content-type']) };
  },
});

function decode(body: Buffer, contentType: string | undefined): Json {
  if (body.length === 0) return null;
  const text = body.toString('utf8');
  if (contentType && /[/+]json\b/i.test(contentType)) {
    try {
      return JSON.parse(text) as Json;
    } catch {
      // A server that says JSON and sends something else: hand over the text rather than fail.
    }
  }
  return text;
}
