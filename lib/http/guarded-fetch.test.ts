import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { rejection } from '../../test/provider-context.js';
import { startTargetServer, type TargetServer } from '../../test/target-server.js';
import { guardedFetch, type GuardedFetchOptions } from './guarded-fetch.js';

let target: TargetServer;
let other: TargetServer;
const SECRET = 'key-7d2f0c41b9e3';

beforeAll(async () => {
  target = await startTargetServer();
  other = await startTargetServer();
});
afterAll(async () => {
  await target.close();
  await other.close();
});
beforeEach(() => {
  target.requests.length = 0;
  other.requests.length = 0;
});

const fetchWith = (opts: Partial<GuardedFetchOptions> = {}) =>
  guardedFetch({ allowHosts: ['127.0.0.1'], maxResponseBytes: 64 * 1024, signal: new AbortController().signal, secrets: [SECRET], ...opts });

describe('ctx.fetch', () => {
  it('answers a standard Response', async () => {
    const res = await fetchWith()(`${target.url}/json`);
    expect(res).toBeInstanceOf(Response);
    expect(res.ok).toBe(true);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(res.url).toBe(`${target.url}/json`);
    expect(await res.json()).toEqual({ ok: true, n: 42, items: [1, 2, 3] });
  });

  it('sends method, headers and body as fetch would, from a URL, a string or a Request', async () => {
    const f = fetchWith();
    await f(new URL(`${target.url}/echo?q=1`), { method: 'POST', body: JSON.stringify({ a: 1 }), headers: { 'content-type': 'application/json', 'x-one': '1' } });
    await f(new Request(`${target.url}/echo`, { method: 'PUT', body: 'plain' }));
    expect(target.requests.map((r) => [r.method, r.path, r.body])).toEqual([
      ['POST', '/echo?q=1', '{"a":1}'],
      ['PUT', '/echo', 'plain'],
    ]);
    expect(target.requests[0]!.headers).toMatchObject({ 'content-type': 'application/json', 'x-one': '1' });
    expect(target.requests[1]!.headers['content-type']).toMatch(/^text\/plain/);
  });

  it('gives non-2xx answers as Responses (ok false), and a body-less status without a body', async () => {
    const res = await fetchWith()(`${target.url}/status/503`);
    expect([res.ok, res.status]).toEqual([false, 503]);
    target.route('GET', '/empty', (_req, r) => void r.writeHead(204).end());
    expect((await fetchWith()(`${target.url}/empty`)).status).toBe(204);
  });

  it('refuses internal addresses outside HTTP_ALLOW_HOSTS, also after a redirect', async () => {
    expect((await rejection(fetchWith({ allowHosts: [] })(`${target.url}/json`))).code).toBe('ssrf_blocked');
    const viaRedirect = await rejection(fetchWith({ allowHosts: ['localhost'] })(`http://localhost:${target.port}/redirect?to=${encodeURIComponent('http://127.0.0.1:9/')}`));
    expect(viaRedirect.code).toBe('ssrf_blocked');
    expect((await rejection(fetchWith()('file:///etc/passwd'))).code).toBe('invalid_url');
    expect((await rejection(fetchWith()('not a url'))).code).toBe('invalid_url');
    expect((await rejection(fetchWith()(`${target.url}/json`, { body: 'x' }))).code).toBe('invalid_request');
  });

  it('drops Authorization, Cookie and headers holding the credential when a redirect leaves the origin', async () => {
    const headers = { authorization: `Bearer ${SECRET}`, 'x-api-key': SECRET, cookie: 'c=1', 'x-plain': 'kept' };
    await fetchWith()(`${target.url}/redirect?to=${encodeURIComponent(`${other.url}/echo`)}`, { headers });
    const seen = other.requests[0]!.headers;
    expect(seen['x-plain']).toBe('kept');
    expect(seen.authorization).toBeUndefined();
    expect(seen['x-api-key']).toBeUndefined();
    expect(seen.cookie).toBeUndefined();
    // Same origin: kept.
    await fetchWith()(`${target.url}/redirect?to=/echo`, { headers });
    expect(target.requests.at(-1)!.headers).toMatchObject({ authorization: `Bearer ${SECRET}`, 'x-api-key': SECRET });
  });

  it('follows redirects (redirected, final url) unless redirect is "error"', async () => {
    const res = await fetchWith()(`${target.url}/redirect?to=/json`);
    expect([res.redirected, res.url]).toEqual([true, `${target.url}/json`]);
    expect((await rejection(fetchWith()(`${target.url}/redirect?to=/json`, { redirect: 'error' }))).code).toBe('too_many_redirects');
  });

  it('caps the response size', async () => {
    expect((await rejection(fetchWith({ maxResponseBytes: 1000 })(`${target.url}/big?bytes=5000`))).code).toBe('response_too_large');
  });

  it('aborts with the node signal and with init.signal', async () => {
    const node = new AbortController();
    const pending = rejection(fetchWith({ signal: node.signal })(`${target.url}/slow?ms=20000`));
    await new Promise((r) => setTimeout(r, 100));
    const reason = new Error('node cancelled');
    node.abort(reason);
    expect(await pending).toBe(reason);
    const own = await rejection(fetchWith()(`${target.url}/slow?ms=20000`, { signal: AbortSignal.timeout(100) }));
    expect(own.name).toBe('TimeoutError');
    await new Promise((r) => setTimeout(r, 50));
    expect(target.requests.filter((r) => r.path.startsWith('/slow')).every((r) => r.aborted)).toBe(true);
  });
});
