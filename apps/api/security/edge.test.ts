import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../../../test/stack.js';
import { MAX_JSON_DEPTH, maxBodyBytes } from '../middleware/body.js';

const flow = { name: 'edge', nodes: [{ id: 'a', type: 'noop' }] };

/** A raw request through a real socket: what a chunked upload or a lying client really sends. */
function rawPost(port: number, path: string, headers: Record<string, string>, chunks: (Buffer | string)[]): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    let answered = false;
    // A fresh connection each time: the server closes one whose oversized body it did not read.
    const req = httpRequest({ host: '127.0.0.1', port, path, method: 'POST', headers, agent: false }, (res) => {
      answered = true;
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString('utf8') }));
    });
    // The server may answer 413 and close before the whole body is written: only an error before the answer counts.
    req.on('error', (err) => answered || reject(err));
    (async () => {
      for (const chunk of chunks) {
        if (req.destroyed) return;
        if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
      }
      req.end();
    })().catch(reject);
  });
}

describe('edge hardening', () => {
  let stack: TestStack;
  let server: ServerType;
  let port: number;
  const auth = () => ({ authorization: `Bearer ${stack.adminKey}` });
  const send = async (method: string, path: string, init: { body?: BodyInit; headers?: Record<string, string> } = {}) => {
    const res = await stack.app.request(path, { method, body: init.body, headers: { ...auth(), ...init.headers }, ...(init.body instanceof ReadableStream ? { duplex: 'half' } : {}) } as RequestInit);
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, body: text ? JSON.parse(text) : undefined };
  };
  const json = { 'content-type': 'application/json' };

  beforeAll(async () => {
    stack = await startStack({ workers: false });
    server = serve({ fetch: stack.app.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise((r) => server.once('listening', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    await stack.close();
  });

  it('refuses an oversized body by its declared length and, while streaming, a chunked one: 413 JSON', async () => {
    const limit = maxBodyBytes(stack.config);
    expect(limit).toBe(2 * 1024 * 1024);
    const big = JSON.stringify({ ...flow, description: 'x'.repeat(limit) });
    const declared = await send('POST', '/v1/workflows', { body: big, headers: json });
    expect(declared.status).toBe(413);
    expect(declared.body.error.code).toBe('payload_too_large');

    let pulled = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled += 64 * 1024;
        // Never ends on its own: only a limit enforced while reading stops it.
        controller.enqueue(new Uint8Array(64 * 1024).fill(0x20));
      },
    });
    const chunked = await send('POST', '/v1/workflows', { body: stream, headers: json });
    expect(chunked.status).toBe(413);
    expect(pulled).toBeLessThan(limit + 512 * 1024);

    const socket = await rawPost(port, '/v1/workflows', { ...auth(), ...json, 'transfer-encoding': 'chunked' }, Array.from({ length: 48 }, () => Buffer.alloc(64 * 1024, 0x20)));
    expect(socket.status).toBe(413);
    expect(JSON.parse(socket.body).error.code).toBe('payload_too_large');
    const small = await rawPost(port, '/v1/workflows', { ...auth(), ...json, 'transfer-encoding': 'chunked' }, [JSON.stringify(flow).slice(0, 10), JSON.stringify(flow).slice(10)]);
    expect(small.status).toBe(201);
  });

  it('refuses an anonymous upload before reading its body', async () => {
    let pulled = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled += 64 * 1024;
        controller.enqueue(new Uint8Array(64 * 1024).fill(0x20));
      },
    });
    const res = await stack.app.request('/v1/workflows', { method: 'POST', body: stream, duplex: 'half', headers: json } as RequestInit);
    expect(res.status).toBe(401);
    expect(pulled).toBeLessThanOrEqual(2 * 64 * 1024);
  });

  it('answers 415 to a body without a JSON Content-Type, or in another charset', async () => {
    for (const headers of [{} as Record<string, string>, { 'content-type': 'text/plain' }, { 'content-type': 'application/x-www-form-urlencoded' }, { 'content-type': 'application/json; charset=latin1' }, { 'content-type': 'application/jsonx' }]) {
      const res = await send('POST', '/v1/workflows', { body: JSON.stringify(flow), headers });
      expect(res.status, JSON.stringify(headers)).toBe(415);
      expect(res.body.error.code).toBe('unsupported_media_type');
    }
    expect((await send('POST', '/v1/workflows', { body: JSON.stringify({ ...flow, name: 'ct-ok' }), headers: { 'content-type': 'application/json; charset=UTF-8' } })).status).toBe(201);
    expect((await send('POST', '/v1/workflows', { body: JSON.stringify({ ...flow, name: 'ct-merge' }), headers: { 'content-type': 'application/merge-patch+json' } })).status).toBe(201);
  });

  it('answers 400 to malformed JSON, invalid UTF-8, NUL, lone surrogates and absurd nesting', async () => {
    const cases: [string | Uint8Array<ArrayBuffer>, string][] = [
      ['{"name": ', 'malformed_json'],
      ['{"name": "a"} trailing', 'malformed_json'],
      [new Uint8Array([0x7b, 0x22, 0x6e, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]), 'invalid_utf8'],
      [new Uint8Array([0x7b, 0x22, 0x6e, 0x22, 0x3a, 0x22, 0xc0, 0xaf, 0x22, 0x7d]), 'invalid_utf8'],
      ['{"name": "a\\u0000b", "nodes": []}', 'nul_character'],
      ['{"name": "x", "nodes": [{"id": "a", "type": "noop", "params": {"k\\u0000": 1}}]}', 'nul_character'],
      ['{"name": "x", "description": "\\ud800"}', 'invalid_unicode'],
      ['{"name": "x", "description": "\\udc00\\ud800"}', 'invalid_unicode'],
      [`${'['.repeat(MAX_JSON_DEPTH + 1)}${']'.repeat(MAX_JSON_DEPTH + 1)}`, 'too_deep'],
      [`${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`, 'too_deep'],
    ];
    for (const [body, code] of cases) {
      const res = await send('POST', '/v1/workflows', { body, headers: json });
      expect(res.status, code).toBe(400);
      expect(res.body.error.code, String(body).slice(0, 40)).toBe(code);
    }
    const pointer = await send('POST', '/v1/workflows', { body: '{"name": "x", "nodes": [{"id": "a", "params": {"u": "\\u0000"}}]}', headers: json });
    expect(pointer.body.error.details[0].pointer).toBe('/nodes/0/params/u');
    // A paired surrogate (an emoji) is fine, and is stored and read back as sent.
    const emoji = await send('POST', '/v1/workflows', { body: JSON.stringify({ ...flow, name: 'emoji', description: 'ship it \u{1F680}' }), headers: json });
    expect(emoji.status).toBe(201);
    expect((await send('GET', '/v1/workflows/emoji')).body.description).toBe('ship it \u{1F680}');
  });

  it('treats an empty body as none: optional-body routes work with or without a Content-Type', async () => {
    expect((await send('POST', '/v1/workflows', { body: JSON.stringify({ ...flow, name: 'opt' }), headers: json })).status).toBe(201);
    const bare = await send('POST', '/v1/workflows/opt/runs');
    expect(bare.status).toBe(202);
    const emptyJson = await send('POST', '/v1/workflows/opt/runs', { body: '', headers: json });
    expect(emptyJson.status).toBe(202);
    const cancel = await send('POST', `/v1/runs/${bare.body.id}/cancel`);
    expect(cancel.status).toBe(202);
    const cancelJson = await send('POST', `/v1/runs/${emptyJson.body.id}/cancel`, { body: '', headers: json });
    expect(cancelJson.status).toBe(202);
    // A required body that is missing is a validation error, not a crash.
    const none = await send('POST', '/v1/credentials');
    expect(none.status).toBe(400);
  });

  it('answers 400 to NUL or broken percent-encoding in the path or query', async () => {
    for (const path of ['/v1/workflows/%00', '/v1/workflows/a%00b/versions', '/v1/runs?workflow=%00', '/v1/runs?cursor=%ff', '/v1/workflows/%e0%80', '/v1/workflows/%zz', `/v1/runs?workflow=${'a'.repeat(9000)}`]) {
      const res = await send('GET', path);
      expect(res.status, path).toBe(400);
      expect(res.body.error.code).toBe('invalid_url');
    }
  });

  it('sends security headers on answers and errors, and never HTML or a stack', async () => {
    for (const res of [await send('GET', '/v1/workflows'), await send('POST', '/v1/workflows', { body: '{', headers: json }), await send('GET', '/nowhere')]) {
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('x-frame-options')).toBe('SAMEORIGIN');
      expect(res.headers.get('strict-transport-security')).toMatch(/max-age=/);
      expect(res.text).not.toMatch(/<html|\bat .*\.(ts|js):\d+/i);
    }
  });
});
