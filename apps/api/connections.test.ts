import { Agent, get, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config.js';
import { startStack, testLogger, type TestStack } from '../../test/stack.js';
import { serveApi, serverTimeouts } from './server.js';

/**
 * Connections as a keep-alive client meets them, over real sockets: an early answer closes
 * cleanly, idle connections live HTTP_KEEP_ALIVE_TIMEOUT_MS, a stalled request is dropped.
 */
describe('connections a client can trust', () => {
  let stack: TestStack;
  let server: Server;
  let port: number;
  // Short, so the idle and slowloris cases take seconds: headers timeout 2.5 s, checked every second.
  const KEEP_ALIVE_MS = 1_500;

  beforeAll(async () => {
    stack = await startStack({ workers: false, env: { MAX_RUN_INPUT_BYTES: '1024', HTTP_KEEP_ALIVE_TIMEOUT_MS: String(KEEP_ALIVE_MS) } });
    await stack.request('POST', '/v1/workflows', { body: { name: 'w', nodes: [{ id: 'a', type: 'noop' }] } });
    server = serveApi(stack.app, stack.config, stack.log, { port: 0, hostname: '127.0.0.1' });
    await new Promise((resolve) => server.once('listening', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => {
      server.close(resolve);
      server.closeAllConnections();
    });
    await stack.close();
  });

  const headers = () => ({ authorization: `Bearer ${stack.adminKey}`, 'content-type': 'application/json' });
  const runs = () => `http://127.0.0.1:${port}/v1/workflows/w/runs`;

  /** A raw client: what it received, and what happened to its socket, with times since it connected. */
  function rawClient(opts: { allowHalfOpen?: boolean } = {}) {
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: opts.allowHalfOpen ?? false });
    const started = Date.now();
    const state = { text: '', events: [] as string[], closedAt: undefined as number | undefined, error: undefined as string | undefined };
    socket.on('data', (d: Buffer) => (state.text += d.toString('latin1')));
    socket.on('end', () => state.events.push('end'));
    socket.on('error', (err: NodeJS.ErrnoException) => (state.error = err.code ?? err.message));
    socket.on('close', () => (state.closedAt = Date.now() - started));
    const responses = () => state.text.split(/(?=HTTP\/1\.1 )/).filter(Boolean);
    const until = async (what: () => boolean, timeoutMs: number) => {
      const deadline = Date.now() + timeoutMs;
      while (!what()) {
        if (Date.now() > deadline) throw new Error(`timed out; received ${JSON.stringify(state.text.slice(0, 300))}, events ${state.events}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    return { socket, state, responses, until, started };
  }

  it('an oversized body, then 100 concurrent requests from the same keep-alive client: all succeed', async () => {
    const big = await fetch(runs(), { method: 'POST', headers: headers(), body: JSON.stringify({ input: 'x'.repeat(3 * 1024 * 1024) }) });
    expect(big.status).toBe(413);
    expect(big.headers.get('connection')).toBe('close');
    expect(((await big.json()) as any).error.code).toBe('payload_too_large');
    const results = await Promise.allSettled(Array.from({ length: 100 }, () => fetch(runs(), { method: 'POST', headers: headers(), body: '{}' }).then((r) => r.status)));
    const failures = results.flatMap((r) => (r.status === 'rejected' ? [String((r.reason as { cause?: { code?: string } }).cause?.code ?? r.reason)] : r.value === 202 ? [] : [`status ${r.value}`]));
    expect(failures).toEqual([]);
  });

  it('an early 413 says Connection: close and reads the rest of the body before closing, never a reset', async () => {
    const size = 3 * 1024 * 1024;
    const client = rawClient({ allowHalfOpen: true });
    client.socket.write(`POST /v1/workflows/w/runs HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${stack.adminKey}\r\ncontent-type: application/json\r\ncontent-length: ${size}\r\n\r\n`);
    // The body trickles in over about a second, as on a slow uplink: past the 500 ms after which
    // @hono/node-server alone would destroy the socket under a client told "keep-alive".
    const chunk = Buffer.alloc(64 * 1024, 'x');
    for (let sent = 0; sent < size; sent += chunk.length) {
      expect(client.state.error).toBeUndefined();
      client.socket.write(chunk);
      await new Promise((r) => setTimeout(r, 20));
    }
    client.socket.end();
    await client.until(() => client.state.closedAt !== undefined, 5_000);
    expect(client.state.error).toBeUndefined();
    const [answer] = client.responses();
    expect(answer).toMatch(/^HTTP\/1\.1 413 /);
    expect(answer).toMatch(/\r\nconnection: close\r\n/i);
    expect(answer).not.toMatch(/keep-alive/i);
  });

  it('an early 401 before the body is read closes the same way; a fully read request keeps the connection', async () => {
    const client = rawClient({ allowHalfOpen: true });
    client.socket.write(`POST /v1/workflows/w/runs HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 200000\r\n\r\n{"input":`);
    await client.until(() => client.responses().length === 1 && client.state.events.includes('end'), 5_000);
    expect(client.responses()[0]).toMatch(/^HTTP\/1\.1 401 [^]*\r\nconnection: close\r\n/i);
    client.socket.end(Buffer.alloc(200000 - 9, ' '));
    await client.until(() => client.state.closedAt !== undefined, 5_000);
    expect(client.state.error).toBeUndefined();

    const ok = await fetch(runs(), { method: 'POST', headers: headers(), body: '{}' });
    expect(ok.status).toBe(202);
    expect(ok.headers.get('connection')).toBe('keep-alive');
  });

  it('keeps an idle connection open for HTTP_KEEP_ALIVE_TIMEOUT_MS, then closes it', async () => {
    const client = rawClient();
    const get = 'GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n';
    client.socket.write(get);
    await client.until(() => client.responses().length === 1 && client.state.text.endsWith('}'), 5_000);
    expect(client.responses()[0]).toMatch(/\r\nKeep-Alive: timeout=1\r\n/);
    await new Promise((r) => setTimeout(r, KEEP_ALIVE_MS - 500));
    client.socket.write(get); // reused after an idle second: still open
    await client.until(() => client.responses().length === 2 && client.state.text.endsWith('}'), 5_000);
    expect(client.responses()[1]).toMatch(/^HTTP\/1\.1 200 /);
    const answeredAt = Date.now() - client.started;
    await client.until(() => client.state.closedAt !== undefined, KEEP_ALIVE_MS + 3_000);
    expect(client.state.closedAt! - answeredAt).toBeGreaterThanOrEqual(KEEP_ALIVE_MS - 100);
    expect(client.state.error).toBeUndefined();
  });

  it('drops a client that never finishes its headers within the headers timeout (slowloris)', async () => {
    const { headersTimeout } = serverTimeouts(stack.config);
    const client = rawClient();
    client.socket.write('GET /healthz HTTP/1.1\r\nhost: x\r\n');
    const drip = setInterval(() => client.socket.writable && client.socket.write(`x-drip-${Date.now()}: 1\r\n`), 200);
    try {
      await client.until(() => client.state.closedAt !== undefined, headersTimeout + 4_000);
    } finally {
      clearInterval(drip);
    }
    // Checked every second, and the answer's socket is destroyed a second after it is sent.
    expect(client.state.closedAt!).toBeGreaterThanOrEqual(headersTimeout - 100);
    expect(client.state.closedAt!).toBeLessThan(headersTimeout + 3_000);
    const [answer] = client.responses();
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(answer).toContain('"code":"request_timeout"');
  });
});

describe('server timeouts from the configuration', () => {
  const base = { DATABASE_URL: 'postgres://x', ENCRYPTION_KEY: Buffer.alloc(32, 1).toString('base64') };

  it('defaults to 65 s keep-alive, headers timeout above it', () => {
    const t = serverTimeouts(loadConfig(base));
    expect(t).toMatchObject({ keepAliveTimeout: 65_000, headersTimeout: 66_000, connectionsCheckingInterval: 1_000 });
    expect(t.requestTimeout).toBeGreaterThanOrEqual(t.headersTimeout);
  });

  it('names an invalid HTTP_KEEP_ALIVE_TIMEOUT_MS', () => {
    for (const bad of ['soon', '-1', '10', '1.5e9']) expect(() => loadConfig({ ...base, HTTP_KEEP_ALIVE_TIMEOUT_MS: bad })).toThrow(/HTTP_KEEP_ALIVE_TIMEOUT_MS/);
  });

  it('a real server built from the default config announces 65 s keep-alive', async () => {
    const api = serveApi({ fetch: () => new Response('{}') }, loadConfig(base), testLogger(), { port: 0, hostname: '127.0.0.1' });
    await new Promise((resolve) => api.once('listening', resolve));
    const agent = new Agent({ keepAlive: true });
    const announced = await new Promise<string | undefined>((resolve, reject) => {
      get(`http://127.0.0.1:${(api.address() as AddressInfo).port}/`, { agent }, (res) => resolve(String(res.resume().headers['keep-alive']))).on('error', reject);
    });
    agent.destroy();
    expect(announced).toBe('timeout=65');
    expect(api.headersTimeout).toBe(66_000);
    await new Promise((resolve) => {
      api.close(resolve);
      api.closeAllConnections();
    });
  });
});
