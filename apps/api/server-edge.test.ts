import type { AddressInfo } from 'node:net';
import { request as httpRequest } from 'node:http';
import { serve, type ServerType } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../../test/stack.js';

/**
 * The edge as served by @hono/node-server, whose lightweight request and response objects take
 * paths that `app.request` never does (a body read straight from the socket, headers set on an
 * unbuilt response): the same guarantees must hold there.
 */
describe('the API behind a real HTTP server', () => {
  let stack: TestStack;
  let server: ServerType;
  let base: string;

  beforeAll(async () => {
    stack = await startStack({ workers: false, env: { MAX_RUN_INPUT_BYTES: '1024' } });
    await stack.request('POST', '/v1/workflows', { body: { name: 'w', nodes: [{ id: 'a', type: 'noop' }] } });
    server = serve({ fetch: stack.app.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await stack.close();
  });

  const auth = () => ({ authorization: `Bearer ${stack.adminKey}` });

  /**
   * A raw request, so the test controls Content-Length and chunking. `hold` leaves the body
   * unfinished: a refusal must come before the client has sent it all.
   */
  function raw(path: string, headers: Record<string, string>, chunks: string[], hold = false): Promise<{ status: number; body: any }> {
    return new Promise((resolve, reject) => {
      const req = httpRequest(`${base}${path}`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json', ...headers } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          resolve({ status: res.statusCode!, body: text ? JSON.parse(text) : undefined });
          if (hold) req.destroy();
        });
      });
      req.on('error', reject);
      for (const c of chunks) req.write(c);
      if (!hold) req.end();
    });
  }

  it('creates a run with security headers and the request id on the answer', async () => {
    const res = await fetch(`${base}/v1/workflows/w/runs`, {
      method: 'POST',
      headers: { ...auth(), 'content-type': 'application/json', 'x-request-id': 'edge-1' },
      body: JSON.stringify({ input: { ok: true } }),
    });
    expect(res.status).toBe(202);
    expect(res.headers.get('x-request-id')).toBe('edge-1');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBe('SAMEORIGIN');
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const body = (await res.json()) as { id: string };
    const run = await stack.db.selectFrom('runs').select('input').where('id', '=', body.id).executeTakeFirstOrThrow();
    expect(run.input).toEqual({ ok: true });
  });

  it('refuses an oversized body by its declared length or as it streams in, and malformed JSON', async () => {
    const runs = '/v1/workflows/w/runs';
    const declared = await raw(runs, { 'content-length': String(8 * 1024 * 1024) }, ['{"input":"'], true);
    expect(declared.status).toBe(413);
    expect(declared.body.error.code).toBe('payload_too_large');
    const chunked = await raw(runs, { 'transfer-encoding': 'chunked' }, ['{"input":"', 'x'.repeat(3 * 1024 * 1024)], true);
    expect(chunked.status).toBe(413);
    expect(chunked.body.error.code).toBe('payload_too_large');
    expect((await raw(runs, { 'transfer-encoding': 'chunked' }, ['{"inp', 'ut":1}'])).status).toBe(202);
    for (const headers of [{}, { 'content-length': '9' }] as Record<string, string>[]) {
      const broken = await raw(runs, headers, ['{"input":']);
      expect(broken.status).toBe(400);
      expect(broken.body.error.code).toBe('malformed_json');
    }
    expect((await raw(runs, { 'content-length': '0' }, [])).status).toBe(202);
  });

  it('sends the same headers as the in-process app', async () => {
    const init = { method: 'POST', headers: { ...auth(), 'content-type': 'application/json', 'x-request-id': 'same' }, body: '{}' };
    const names = (h: Headers) => [...h.keys()].filter((k) => !['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding'].includes(k)).sort();
    for (const path of ['/v1/workflows/w/runs', '/v1/workflows/ghost/runs', '/healthz', '/nowhere']) {
      const served = await fetch(`${base}${path}`, init);
      const inProcess = await stack.app.request(path, init);
      expect(names(served.headers), path).toEqual(names(inProcess.headers));
      for (const name of names(inProcess.headers)) if (name !== 'content-type') expect(served.headers.get(name), `${path} ${name}`).toBe(inProcess.headers.get(name));
    }
  });

  it('refuses a URL that does not decode, and answers 401 without a key', async () => {
    expect((await fetch(`${base}/v1/workflows/%ff/runs`, { method: 'POST', headers: auth() })).status).toBe(400);
    const anon = await fetch(`${base}/v1/workflows/w/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(anon.status).toBe(401);
    expect(anon.headers.get('x-request-id')).toEqual(expect.any(String));
  });
});
