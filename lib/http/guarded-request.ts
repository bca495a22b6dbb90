import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions } from 'node:dns';
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { ProviderError, permanent, transient } from '../providers/errors.js';
import { withTraceContext } from '../tracing/index.js';
import type { AddressPolicy } from './address-policy.js';

/**
 * Outbound HTTP for providers, with the SSRF guard where it cannot be bypassed: on the address
 * the socket actually connects to. Hostnames are resolved by our own lookup, which refuses the
 * whole answer if any address is internal (no DNS-rebinding race: net connects only to what the
 * lookup returned); IP literals are checked before connecting; every redirect hop is a new request
 * through the same checks.
 */
export interface GuardedRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string | Buffer;
  signal: AbortSignal;
  policy: AddressPolicy;
  maxResponseBytes: number;
  /** Header names (lower case) dropped when a redirect leaves the original origin. */
  sensitiveHeaders?: readonly string[];
  maxRedirects?: number;
}

export interface GuardedResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  url: string;
}

/**
 * Keep-alive pools, one pair per address policy: a pooled socket was checked when it connected,
 * so it may only be reused under the same policy (a socket opened under a wider allow-list must
 * not serve a request made under a narrower one).
 */
const agentsByPolicy = new WeakMap<AddressPolicy, { 'http:': http.Agent; 'https:': https.Agent }>();
function agentsFor(policy: AddressPolicy) {
  let agents = agentsByPolicy.get(policy);
  if (!agents) {
    agents = { 'http:': new http.Agent({ keepAlive: true, maxSockets: 64 }), 'https:': new https.Agent({ keepAlive: true, maxSockets: 64 }) };
    agentsByPolicy.set(policy, agents);
  }
  return agents;
}
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export async function guardedRequest(req: GuardedRequest): Promise<GuardedResponse> {
  let url = parseUrl(req.url);
  const origin = url.origin;
  let { method, body } = req;
  // W3C traceparent of the active node span (tracing on), unless the caller set one: the target joins the run's trace.
  let headers = withTraceContext({ ...req.headers });
  for (let hop = 0; ; hop++) {
    const res = await send(url, method, headers, body, req);
    const location = res.headers.location;
    if (!REDIRECTS.has(res.statusCode ?? 0) || !location) return readBody(res, url, req);
    res.resume();
    if (hop >= (req.maxRedirects ?? 5)) throw permanent('too_many_redirects', `more than ${req.maxRedirects ?? 5} redirects from ${redact(req.url)}`);
    url = parseUrl(resolveLocation(location, url));
    // Browsers' rules: 303 (and 301/302 after a POST) become a GET without a body.
    if (res.statusCode === 303 || ((res.statusCode === 301 || res.statusCode === 302) && method === 'POST')) {
      method = 'GET';
      body = undefined;
      headers = Object.fromEntries(Object.entries(headers).filter(([k]) => !/^content-/i.test(k)));
    }
    if (url.origin !== origin) {
      const drop = new Set(['authorization', 'cookie', ...(req.sensitiveHeaders ?? [])]);
      headers = Object.fromEntries(Object.entries(headers).filter(([k]) => !drop.has(k.toLowerCase())));
    }
  }
}

function resolveLocation(location: string, base: URL): string {
  try {
    return new URL(location, base).toString();
  } catch {
    throw permanent('invalid_url', `${redact(base.toString())} redirected to an invalid URL`);
  }
}

/** An http(s) URL, or a permanent `invalid_url` node error. */
export function parseUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw permanent('invalid_url', `'${redact(raw)}' is not a valid URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw permanent('invalid_url', `only http and https URLs are allowed, not ${url.protocol}`);
  return url;
}

function send(url: URL, method: string, headers: Record<string, string>, body: string | Buffer | undefined, req: GuardedRequest): Promise<IncomingMessage> {
  const hostname = url.hostname.replace(/^\[|\]$/g, '');
  if (ipaddr.isValid(hostname)) assertAllowed(req.policy, hostname, hostname);
  return new Promise((resolve, reject) => {
    const client = url.protocol === 'https:' ? https : http;
    let outgoing: http.ClientRequest;
    try {
      outgoing = client.request(url, {
        method,
        headers: body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        agent: agentsFor(req.policy)[url.protocol as 'http:' | 'https:'],
        lookup: guardedLookup(req.policy, hostname),
        signal: req.signal,
      });
    } catch (err) {
      // Node names the header, never its value: safe to pass on. It would fail the same way again.
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ERR_INVALID_HTTP_TOKEN' || code === 'ERR_INVALID_CHAR') return reject(permanent('invalid_params', `a request header is invalid: ${(err as Error).message}`));
      return reject(translate(err as Error, req.signal, url));
    }
    outgoing.on('response', resolve);
    outgoing.on('error', (err) => reject(translate(err, req.signal, url)));
    outgoing.end(body);
  });
}

type Resolver = (host: string, options: LookupAllOptions, callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void;

/**
 * net's `lookup` for one request: resolves every address and refuses the whole answer if any is
 * refused, so the socket can only connect to addresses the policy passed. Answers in the form
 * asked for: a list when net asks with `all: true` (Node 20's autoSelectFamily does), else one.
 * `resolve` is dns.lookup; tests pass another.
 */
export function guardedLookup(policy: AddressPolicy, hostname: string, resolve: Resolver = dnsLookup as unknown as Resolver): LookupFunction {
  return (host, options, callback) => {
    resolve(host, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      if (addresses.length === 0) return callback(Object.assign(new Error(`no address for ${host}`), { code: 'ENOTFOUND' }), '', 0);
      try {
        for (const a of addresses) assertAllowed(policy, hostname, a.address);
      } catch (refused) {
        return callback(refused as NodeJS.ErrnoException, '', 0);
      }
      if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
      const first = addresses[0]!;
      callback(null, first.address, first.family);
    });
  };
}

function assertAllowed(policy: AddressPolicy, hostname: string, address: string): void {
  const why = policy.refusal(hostname, address);
  if (why) {
    throw permanent(
      'ssrf_blocked',
      `refused to connect to ${address} (${why}) for host '${hostname}': internal addresses are blocked; list the host in HTTP_ALLOW_HOSTS to allow it`,
    );
  }
}

async function readBody(res: IncomingMessage, url: URL, req: GuardedRequest): Promise<GuardedResponse> {
  const declared = Number(res.headers['content-length'] ?? 0);
  if (declared > req.maxResponseBytes) {
    res.destroy();
    throw tooLarge(req.maxResponseBytes);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res) {
      size += (chunk as Buffer).length;
      if (size > req.maxResponseBytes) {
        res.destroy();
        throw tooLarge(req.maxResponseBytes);
      }
      chunks.push(chunk as Buffer);
    }
  } catch (err) {
    throw translate(err as Error, req.signal, url);
  }
  return { status: res.statusCode ?? 0, headers: flatten(res.headers), body: Buffer.concat(chunks), url: url.toString() };
}

const tooLarge = (max: number) => permanent('response_too_large', `the response is larger than ${max} bytes`);

function flatten(headers: IncomingHttpHeaders): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).flatMap(([k, v]) => (v === undefined ? [] : [[k, Array.isArray(v) ? v.join(', ') : v]])));
}

function translate(err: Error, signal: AbortSignal, url: URL): Error {
  if (err instanceof ProviderError) return err;
  if (signal.aborted) return signal.reason instanceof Error ? signal.reason : transient('aborted', 'request aborted');
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return transient('dns_error', `could not resolve ${url.hostname}`);
  return transient('http_error', `${url.protocol}//${url.host}: ${err.message}`);
}

/** URLs may carry credentials (user:pass@, ?token=): errors show only scheme, host and path. */
export function redact(raw: string): string {
  try {
    const u = new URL(raw);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(unparseable URL)';
  }
}
