import { getDefaultAutoSelectFamily } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { callProvider, rejection, type CallOptions } from '../../test/provider-context.js';
import { startTargetServer, type TargetServer } from '../../test/target-server.js';
import httpRequest from './http-request.js';

let target: TargetServer;
let port: number;
/** The target's own origin, opened by IP: requests through it are allowed. */
const open: CallOptions = { settings: { httpAllowHosts: ['127.0.0.1'] } };
const call = (params: Record<string, unknown>, opts: CallOptions = open) => callProvider(httpRequest, params, opts) as Promise<any>;

beforeAll(async () => {
  target = await startTargetServer();
  port = target.port;
  target.route('GET', '/text-json', (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('{"looks":"like json"}');
  });
  target.route('GET', '/problem', (_req, res) => {
    res.writeHead(422, { 'content-type': 'application/problem+json; charset=utf-8' });
    res.end('{"title":"bad"}');
  });
  target.route('GET', '/lying-json', (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('not json at all');
  });
  target.route('GET', '/chunked', (req, res) => {
    const chunks = Number(new URL(req.url!, 'http://x').searchParams.get('chunks') ?? 10);
    res.writeHead(200, { 'content-type': 'text/plain' }); // no content-length: chunked
    let sent = 0;
    const tick = () => {
      if (res.destroyed) return;
      if (sent++ >= chunks) return void res.end();
      res.write('y'.repeat(1000), () => setImmediate(tick));
    };
    tick();
  });
  target.route('GET', '/trickle', (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('first part, then nothing');
  });
  target.route('GET', '/loop', (_req, res) => {
    res.writeHead(302, { location: '/loop' });
    res.end();
  });
  target.route('GET', '/hops', (req, res) => {
    const n = Number(new URL(req.url!, 'http://x').searchParams.get('n'));
    res.writeHead(302, { location: n > 0 ? `/hops?n=${n - 1}` : '/json' });
    res.end();
  });
});
afterAll(() => target.close());
beforeEach(() => {
  target.requests.length = 0;
});

/** Waits until the target saw the client go away (the request it recorded for `path` is marked aborted). */
async function sawAbort(pathPrefix: string, withinMs = 3_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!target.requests.some((r) => r.path.startsWith(pathPrefix) && r.aborted)) {
    if (Date.now() > deadline) throw new Error(`the target never saw ${pathPrefix} aborted: ${JSON.stringify(target.requests.map((r) => [r.path, r.aborted]))}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('the SSRF guard, end to end through the provider', () => {
  const blocked = async (url: string, opts: CallOptions = { settings: { httpAllowHosts: [] } }) => {
    const err = await rejection(call({ url }, opts));
    expect(err.code, `${url}: ${err.message}`).toBe('ssrf_blocked');
    expect(err.message).toMatch(/refused to connect to \S+/);
    expect(err.message).toContain('HTTP_ALLOW_HOSTS');
    return err;
  };

  it.each([
    ['loopback', 'http://127.0.0.1:PORT/json', '127.0.0.1'],
    ['loopback, elsewhere in 127/8', 'http://127.9.9.9:PORT/json', '127.9.9.9'],
    ['private 10/8', 'http://10.0.0.1:PORT/', '10.0.0.1'],
    ['private 172.16/12', 'http://172.16.5.4:PORT/', '172.16.5.4'],
    ['private 192.168/16', 'http://192.168.0.1:PORT/', '192.168.0.1'],
    ['link-local metadata', 'http://169.254.169.254/latest/meta-data/', '169.254.169.254'],
    ['CGNAT 100.64/10', 'http://100.64.0.1:PORT/', '100.64.0.1'],
    ['unspecified 0.0.0.0', 'http://0.0.0.0:PORT/json', '0.0.0.0'],
    ['unspecified, short form', 'http://0:PORT/json', '0.0.0.0'],
    ['IPv6 loopback', 'http://[::1]:PORT/json', '::1'],
    ['IPv4-mapped, dotted', 'http://[::ffff:127.0.0.1]:PORT/json', '::ffff:7f00:1'],
    ['IPv4-mapped, hex', 'http://[::ffff:7f00:1]:PORT/json', '::ffff:7f00:1'],
    ['IPv4-mapped metadata', 'http://[::ffff:169.254.169.254]/', '::ffff:a9fe:a9fe'],
    ['IPv4-compatible', 'http://[::127.0.0.1]:PORT/json', '::7f00:1'],
    ['decimal', 'http://2130706433:PORT/json', '127.0.0.1'],
    ['octal', 'http://0177.0.0.1:PORT/json', '127.0.0.1'],
    ['hex', 'http://0x7f.0.0.1:PORT/json', '127.0.0.1'],
    ['shortened', 'http://127.1:PORT/json', '127.0.0.1'],
    ['NAT64 64:ff9b::/96', 'http://[64:ff9b::7f00:1]:PORT/json', '64:ff9b::7f00:1'],
    ['unique local IPv6', 'http://[fd00::1]:PORT/', 'fd00::1'],
    ['link-local IPv6', 'http://[fe80::1]:PORT/', 'fe80::1'],
  ])('refuses %s (%s) before connecting, naming %s', async (_label, template, address) => {
    const err = await blocked(template.replace('PORT', String(port)));
    expect(err.message).toContain(`refused to connect to ${address} `);
    expect(target.requests).toHaveLength(0);
  });

  it('refuses a hostname that resolves to loopback (localhost), on the resolved address', async () => {
    const err = await blocked(`http://localhost:${port}/json`);
    expect(err.message).toMatch(/refused to connect to (127\.0\.0\.1|::1) \(loopback\) for host 'localhost'/);
    expect(target.requests).toHaveLength(0);
  });

  it('connects through the guarded lookup under autoSelectFamily (lookup with all:true) when the host is allowed', async () => {
    expect(getDefaultAutoSelectFamily()).toBe(true);
    // localhost resolves to ::1 and 127.0.0.1; the target listens on 127.0.0.1 only, so this also
    // proves the family fallback sees the whole (allowed) answer.
    const out = await call({ url: `http://localhost:${port}/json` }, { settings: { httpAllowHosts: ['localhost'] } });
    expect(out).toMatchObject({ status: 200, body: { ok: true, n: 42 } });
  });

  it('refuses a redirect from an allowed host to a private address', async () => {
    const to = encodeURIComponent(`http://127.0.0.1:${port}/json`);
    const err = await blocked(`http://localhost:${port}/redirect?to=${to}`, { settings: { httpAllowHosts: ['localhost'] } });
    expect(err.message).toContain('refused to connect to 127.0.0.1 (loopback)');
    expect(target.requests.map((r) => r.path.split('?')[0])).toEqual(['/redirect']);
  });

  it.each([
    ['metadata', 'http://169.254.169.254/latest/meta-data/'],
    ['IPv4-mapped loopback', 'http://[::ffff:127.0.0.1]:PORT/json'],
    ['decimal loopback', 'http://2130706433:PORT/json'],
    ['IPv6 loopback', 'http://[::1]:PORT/json'],
    ['a private address', 'http://10.0.0.1:PORT/json'],
  ])('refuses a redirect hop from an allowed hostname to %s', async (_label, hop) => {
    const to = encodeURIComponent(hop.replace('PORT', String(port)));
    await blocked(`http://localhost:${port}/redirect?to=${to}`, { settings: { httpAllowHosts: ['localhost'] } });
    expect(target.requests.map((r) => r.path.split('?')[0])).toEqual(['/redirect']);
  });

  it('opens by hostname, by IP and by CIDR', async () => {
    for (const allow of [['localhost'], ['127.0.0.1'], ['127.0.0.0/8'], ['::ffff:127.0.0.0/104']]) {
      const host = allow[0] === 'localhost' ? 'localhost' : '127.0.0.1';
      expect((await call({ url: `http://${host}:${port}/json` }, { settings: { httpAllowHosts: allow } })).status, allow.join()).toBe(200);
    }
    // A CIDR that does not hold the address opens nothing.
    await blocked(`http://127.0.0.1:${port}/json`, { settings: { httpAllowHosts: ['10.0.0.0/8', '127.0.0.2'] } });
  });

  it.each(['file:///etc/passwd', 'ftp://127.0.0.1/x', 'gopher://127.0.0.1:70/_x', 'data:text/plain,hi', 'javascript:alert(1)', 'not a url', '//no-scheme.example/'])(
    'refuses %s as invalid_url',
    async (url) => {
      const err = await rejection(call({ url }));
      expect(err.code).toBe('invalid_url');
    },
  );

  it('refuses a redirect to a non-http scheme or an invalid Location as invalid_url', async () => {
    expect((await rejection(call({ url: `${target.url}/redirect?to=${encodeURIComponent('file:///etc/passwd')}` }))).code).toBe('invalid_url');
    expect((await rejection(call({ url: `${target.url}/redirect?to=${encodeURIComponent('http://[bad')}` }))).code).toBe('invalid_url');
  });
});

describe('redirects', () => {
  it('follows up to 5 hops and refuses the 6th with too_many_redirects', async () => {
    expect((await call({ url: `${target.url}/hops?n=4` })).body).toMatchObject({ ok: true }); // 5 redirects
    target.requests.length = 0;
    const err = await rejection(call({ url: `${target.url}/loop` }));
    expect(err.code).toBe('too_many_redirects');
    expect(target.requests).toHaveLength(6);
  });

  it('turns a 303 (and a 302 after POST) into a GET without a body; 307 keeps both', async () => {
    for (const [status, method] of [['303', 'GET'], ['302', 'GET'], ['307', 'POST'], ['308', 'POST']] as const) {
      const out = await call({ method: 'POST', url: `${target.url}/redirect?status=${status}&to=/echo`, body: { a: 1 } });
      expect(out.body.method, status).toBe(method);
      expect(out.body.body, status).toBe(method === 'POST' ? '{"a":1}' : '');
    }
  });
});

describe('http.request behaviour', () => {
  it.each(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])('sends %s', async (method) => {
    const out = await call({ method, url: `${target.url}/echo` });
    expect(out.status).toBe(200);
    expect(out.body.method).toBe(method);
  });

  it('sends HEAD and returns a null body', async () => {
    const out = await call({ method: 'HEAD', url: `${target.url}/json` });
    expect(out).toMatchObject({ status: 200, body: null });
    expect(target.requests[0]!.method).toBe('HEAD');
  });

  it('sends headers and appends query params to the URL\'s own', async () => {
    const out = await call({ url: `${target.url}/echo?keep=1`, headers: { 'X-Trace': 'abc', Accept: 'application/json' }, query: { q: 'a b&c', n: 5, ok: true } });
    expect(out.body.path).toBe('/echo?keep=1&q=a+b%26c&n=5&ok=true');
    expect(out.body.headers).toMatchObject({ 'x-trace': 'abc', accept: 'application/json' });
  });

  it('sends objects as JSON and strings as text, unless a content-type is given', async () => {
    const json = await call({ method: 'POST', url: `${target.url}/echo`, body: { a: [1, 2], b: 'x' } });
    expect(json.body.headers['content-type']).toBe('application/json');
    expect(JSON.parse(json.body.body)).toEqual({ a: [1, 2], b: 'x' });
    const text = await call({ method: 'POST', url: `${target.url}/echo`, body: 'plain words' });
    expect(text.body.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(text.body.body).toBe('plain words');
    const custom = await call({ method: 'PUT', url: `${target.url}/echo`, body: '<x/>', headers: { 'Content-Type': 'application/xml' } });
    expect(custom.body.headers['content-type']).toBe('application/xml');
    expect(custom.body.headers['content-length']).toBe('4');
    const none = await call({ method: 'POST', url: `${target.url}/echo` });
    expect(none.body.headers['content-type']).toBeUndefined();
  });

  it('refuses a header value with CR/LF as invalid params', () => {
    expect(httpRequest.params.safeParse({ url: 'http://x.example', headers: { 'x-a': 'v\r\nInjected: 1' } }).success).toBe(false);
    expect(httpRequest.params.safeParse({ url: 'http://x.example', headers: { 'bad name': 'v' } }).success).toBe(false);
  });

  it('fails a non-2xx answer with http_status, or returns it with ignoreStatus', async () => {
    const err = await rejection(call({ url: `${target.url}/status/503?token=secret` }));
    expect(err.code).toBe('http_status');
    expect(err.message).toBe(`GET http://127.0.0.1:${port}/status/503 answered 503`); // no query string: it may hold secrets
    const out = await call({ url: `${target.url}/status/404`, ignoreStatus: true });
    expect(out).toMatchObject({ status: 404, body: { status: 404 } });
    expect(out.headers['content-type']).toBe('application/json');
  });

  it('parses JSON only when the response says JSON', async () => {
    expect((await call({ url: `${target.url}/json` })).body).toEqual({ ok: true, n: 42, items: [1, 2, 3] });
    expect((await call({ url: `${target.url}/text-json` })).body).toBe('{"looks":"like json"}');
    expect((await call({ url: `${target.url}/problem`, ignoreStatus: true })).body).toEqual({ title: 'bad' });
    expect((await call({ url: `${target.url}/lying-json` })).body).toBe('not json at all');
  });

  it('caps the response size, by content-length and while streaming a chunked body', async () => {
    const settings = { httpAllowHosts: ['127.0.0.1'], maxResponseBytes: 5_000 };
    expect((await call({ url: `${target.url}/big?bytes=5000` }, { settings })).body).toHaveLength(5_000);
    const declared = await rejection(call({ url: `${target.url}/big?bytes=5001` }, { settings }));
    expect(declared.code).toBe('response_too_large');
    expect(declared.message).toContain('5000 bytes');
    expect((await call({ url: `${target.url}/chunked?chunks=5` }, { settings })).body).toHaveLength(5_000);
    const streamed = await rejection(call({ url: `${target.url}/chunked?chunks=1000` }, { settings }));
    expect(streamed.code).toBe('response_too_large');
    await sawAbort('/chunked?chunks=1000'); // it stopped reading rather than draining a megabyte
  });

  it('aborts on the node timeout signal: rejects promptly and the target sees the connection go', async () => {
    const started = Date.now();
    const err = await rejection(call({ url: `${target.url}/slow?ms=10000` }, { ...open, signal: AbortSignal.timeout(300) }));
    expect(err.name).toBe('TimeoutError');
    expect(Date.now() - started).toBeLessThan(3_000);
    await sawAbort('/slow');
  });

  it('aborts mid-body, and before anything is sent when already aborted', async () => {
    const ac = new AbortController();
    const pending = rejection(call({ url: `${target.url}/trickle` }, { ...open, signal: ac.signal }));
    const deadline = Date.now() + 5_000;
    while (!target.requests.some((r) => r.path === '/trickle')) {
      if (Date.now() > deadline) throw new Error('the request never arrived');
      await new Promise((r) => setTimeout(r, 10));
    }
    await new Promise((r) => setTimeout(r, 50));
    ac.abort(new Error('cancelled by test'));
    expect((await pending).message).toBe('cancelled by test');
    await sawAbort('/trickle');

    target.requests.length = 0;
    const aborted = AbortSignal.abort(new Error('already gone'));
    expect((await rejection(call({ url: `${target.url}/json` }, { ...open, signal: aborted }))).message).toBe('already gone');
    await new Promise((r) => setTimeout(r, 100));
    expect(target.requests).toHaveLength(0);
  });
});

describe('credentials', () => {
  const withCredential = (credential: CallOptions['credential'], extra: CallOptions = {}) => ({ ...open, ...extra, credential });

  it('applies bearer, basic and header credentials', async () => {
    const bearer = await call({ url: `${target.url}/echo` }, withCredential({ type: 'bearer', data: { token: 'tok-123' } }));
    expect(bearer.body.headers.authorization).toBe('Bearer tok-123');
    const basic = await call({ url: `${target.url}/echo` }, withCredential({ type: 'basic', data: { username: 'ann', password: 'p:w' } }));
    expect(basic.body.headers.authorization).toBe(`Basic ${Buffer.from('ann:p:w').toString('base64')}`);
    const header = await call({ url: `${target.url}/echo` }, withCredential({ type: 'header', data: { name: 'X-Api-Key', value: 'k-456' } }));
    expect(header.body.headers['x-api-key']).toBe('k-456');
  });

  it('the credential wins over a header of the same name in params', async () => {
    const out = await call({ url: `${target.url}/echo`, headers: { Authorization: 'Bearer from-params' } }, withCredential({ type: 'bearer', data: { token: 'tok-123' } }));
    expect(out.body.headers.authorization).toBe('Bearer tok-123');
  });

  it('keeps credentials on a same-origin redirect and drops them on a cross-origin one', async () => {
    const both = { settings: { httpAllowHosts: ['127.0.0.1', 'localhost'] } };
    const same = await call({ url: `${target.url}/redirect?to=/echo` }, withCredential({ type: 'bearer', data: { token: 'tok-123' } }, both));
    expect(same.body.headers.authorization).toBe('Bearer tok-123');
    const elsewhere = encodeURIComponent(`http://localhost:${port}/echo`);
    const credentials: CallOptions['credential'][] = [{ type: 'bearer', data: { token: 'tok-123' } }, { type: 'header', data: { name: 'X-Api-Key', value: 'k-456' } }];
    for (const credential of credentials) {
      const out = await call({ url: `${target.url}/redirect?to=${elsewhere}`, headers: { Cookie: 'a=1', 'X-Other': 'kept' } }, withCredential(credential, both));
      expect(out.body.path).toBe('/echo');
      expect(out.body.headers.authorization).toBeUndefined();
      expect(out.body.headers['x-api-key']).toBeUndefined();
      expect(out.body.headers.cookie).toBeUndefined();
      expect(out.body.headers['x-other']).toBe('kept');
    }
  });

  it('refuses a credential type it cannot apply', async () => {
    const err = await rejection(call({ url: `${target.url}/echo` }, withCredential({ type: 'openai', data: { apiKey: 'sk-x' } })));
    expect(err.code).toBe('credential_type');
    expect(target.requests).toHaveLength(0);
  });
});
