import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, startStack, waitForRun, type TestStack } from '../../../test/stack.js';
import { createApp } from '../app.js';

const sign = (secret: string, body: string) => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
const errorShape = expect.objectContaining({ error: expect.objectContaining({ code: expect.any(String), message: expect.any(String) }) });

describe.each(backends())('webhooks on the %s backend', (backend) => {
  let stack: TestStack;
  /** A webhook call as the outside world makes it: no API key, any body and headers; `from` is the socket's peer address. */
  const hook = async (path: string, init: { body?: string; headers?: Record<string, string>; query?: string; app?: ReturnType<typeof createApp>; from?: string } = {}) => {
    // @hono/node-server hands the handler its IncomingMessage as `env.incoming`; getConnInfo reads the socket there.
    const env = init.from ? { incoming: { socket: { remoteAddress: init.from } } } : undefined;
    const res = await (init.app ?? stack.app).request(`/hooks/${path}${init.query ?? ''}`, { method: 'POST', body: init.body, headers: init.headers }, env);
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
  };
  /** An app with its own config, standing for another web process: it shares only Postgres and the queues. */
  const withConfig = (overrides: Partial<TestStack['config']>) => createApp({ ...appDeps(stack), config: { ...stack.config, ...overrides } });
  const echo = (name: string, webhook: Record<string, string>) => ({ name, nodes: [{ id: 'echo', type: 'transform', params: { value: '{{ input }}' } }], webhook });

  beforeAll(async () => {
    stack = await startStack({ backend });
    for (const def of [
      echo('open', { path: `open-${backend}` }),
      echo('signed', { path: `signed-${backend}`, secret: 'hook-secret' }),
      echo('orphan', { path: `orphan-${backend}`, secret: 'no-such-credential' }),
      echo('limited', { path: `limited-${backend}`, secret: 'hook-secret' }),
      echo('flooded', { path: `flooded-${backend}`, secret: 'hook-secret' }),
      echo('guarded', { path: `guarded-${backend}`, secret: 'hook-secret' }),
      { name: 'slow', nodes: [{ id: 'nap', type: 'delay', params: { ms: 3000 } }], webhook: { path: `slow-${backend}` } },
    ]) {
      const res = await stack.request('POST', '/v1/workflows', { body: def });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
    }
    expect((await stack.request('POST', '/v1/credentials', { body: { name: 'hook-secret', type: 'hmac', data: { secret: 's3cret-value' } } })).status).toBe(201);
  });
  afterAll(() => stack.close());

  it('turns a JSON request into a run with {method, headers, query, body}, minus credentials and the signature', async () => {
    const res = await hook(`open-${backend}`, {
      query: '?source=shop&tag=a&tag=b',
      body: JSON.stringify({ order: 42, items: [1, 2] }),
      headers: { 'content-type': 'application/json', authorization: 'Bearer leaked', cookie: 'session=1', 'x-signature': 'sha256=00', 'x-shop': 'acme' },
    });
    expect(res.status).toBe(202);
    expect(Object.keys(res.body)).toEqual(['runId']);
    const run = await waitForRun(stack, res.body.runId);
    expect(run).toMatchObject({ status: 'succeeded', trigger: { type: 'webhook', path: `open-${backend}` } });
    expect(run.input).toMatchObject({ method: 'POST', query: { source: 'shop', tag: ['a', 'b'] }, body: { order: 42, items: [1, 2] } });
    expect(run.input.headers).toMatchObject({ 'content-type': 'application/json', 'x-shop': 'acme' });
    for (const h of ['authorization', 'cookie', 'x-signature']) expect(run.input.headers).not.toHaveProperty(h);
    expect(run.output).toEqual({ echo: run.input });
  });

  it('parses form bodies into fields and keeps other bodies as text', async () => {
    const form = await hook(`open-${backend}`, { body: 'a=1&b=two&b=three', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect((await waitForRun(stack, form.body.runId)).input.body).toEqual({ a: '1', b: ['two', 'three'] });
    const text = await hook(`open-${backend}`, { body: 'plain <b>text</b>', headers: { 'content-type': 'text/plain' } });
    expect((await waitForRun(stack, text.body.runId)).input.body).toBe('plain <b>text</b>');
    const empty = await hook(`open-${backend}`);
    expect((await waitForRun(stack, empty.body.runId)).input.body).toBeNull();
    const broken = await hook(`open-${backend}`, { body: '{"a":', headers: { 'content-type': 'application/json' } });
    expect(broken.status).toBe(400);
    expect(broken.body.error.code).toBe('malformed_json');
    const nul = await hook(`open-${backend}`, { body: '{"a":"\\u0000"}', headers: { 'content-type': 'application/json' } });
    expect(nul.status).toBe(400);
  });

  it('requires a correct X-Signature over the raw body when the webhook has a secret', async () => {
    const body = '{ "order" : 7 }'; // spacing is part of what is signed
    const path = `signed-${backend}`;
    const runsBefore = await stack.db.selectFrom('runs').select('id').execute();
    const attempts: Record<string, string>[] = [
      {},
      { 'x-signature': 'sha256=' + '0'.repeat(64) },
      { 'x-signature': sign('wrong-secret', body) },
      { 'x-signature': sign('s3cret-value', '{"order":7}') },
      { 'x-signature': sign('s3cret-value', body).replace('sha256=', 'sha1=') },
      { 'x-signature': sign('s3cret-value', body).slice(0, -2) },
    ];
    for (const headers of attempts) {
      const res = await hook(path, { body, headers: { 'content-type': 'application/json', ...headers } });
      expect(res.status, JSON.stringify(headers)).toBe(401);
      expect(res.body).toEqual(errorShape);
      expect(res.body.error.code).toBe('invalid_signature');
    }
    expect(await stack.db.selectFrom('runs').select('id').execute()).toHaveLength(runsBefore.length);
    const ok = await hook(path, { body, headers: { 'content-type': 'application/json', 'x-signature': sign('s3cret-value', body) } });
    expect(ok.status).toBe(202);
    const run = await waitForRun(stack, ok.body.runId);
    expect(run.input.body).toEqual({ order: 7 });
    expect(run.input.headers).not.toHaveProperty('x-signature');
  });

  it('fails closed when the secret names no hmac credential', async () => {
    const body = '{}';
    const res = await hook(`orphan-${backend}`, { body, headers: { 'content-type': 'application/json', 'x-signature': sign('anything', body) } });
    expect(res.status).toBe(401);
  });

  it('?wait=true answers 200 with the output when the run ends in time, else 202 with the run id', async () => {
    const done = await hook(`open-${backend}`, { query: '?wait=true', body: '{"x":1}', headers: { 'content-type': 'application/json' } });
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ runId: expect.any(String), status: 'succeeded', output: { echo: { body: { x: 1 } } } });

    const impatient = createApp({ ...appDeps(stack), config: { ...stack.config, WEBHOOK_WAIT_MS: 400 } });
    const started = Date.now();
    const slow = await hook(`slow-${backend}`, { query: '?wait=true', app: impatient });
    expect(slow.status).toBe(202);
    expect(Object.keys(slow.body)).toEqual(['runId']);
    expect(Date.now() - started).toBeGreaterThanOrEqual(350);
    expect(Date.now() - started).toBeLessThan(3000);
    expect((await stack.request('GET', `/v1/runs/${slow.body.runId}`)).body.status).not.toBe('succeeded');
  });

  it('honours Idempotency-Key: the same key makes one run, answered again with 200', async () => {
    const headers = { 'content-type': 'application/json', 'idempotency-key': `evt-${backend}-1` };
    const first = await hook(`open-${backend}`, { body: '{"n":1}', headers });
    const again = await hook(`open-${backend}`, { body: '{"n":1}', headers });
    expect(first.status).toBe(202);
    expect(again.status).toBe(200);
    expect(again.body.runId).toBe(first.body.runId);
    const waited = await hook(`open-${backend}`, { body: '{"n":1}', headers, query: '?wait=true' });
    expect(waited).toMatchObject({ status: 200, body: { runId: first.body.runId, status: 'succeeded' } });
    const runs = await stack.db.selectFrom('runs').select('id').where('idempotency_key', '=', `evt-${backend}-1`).execute();
    expect(runs).toHaveLength(1);
    const other = await hook(`open-${backend}`, { body: '{"n":1}', headers: { ...headers, 'idempotency-key': `evt-${backend}-2` } });
    expect(other.status).toBe(202);
    expect(other.body.runId).not.toBe(first.body.runId);
  });

  it('answers unknown, malformed and archived paths with a JSON 404', async () => {
    for (const path of ['nope', 'UPPER', '..%2F..%2Fetc', 'a'.repeat(80)]) {
      const res = await hook(path, { body: '{}' });
      expect(res.status, path).toBe(404);
      expect(res.body).toEqual(errorShape);
    }
    expect((await stack.request('POST', '/v1/workflows', { body: echo('gone', { path: `gone-${backend}` }) })).status).toBe(201);
    expect((await hook(`gone-${backend}`)).status).toBe(202);
    expect((await stack.request('DELETE', '/v1/workflows/gone')).status).toBe(204);
    expect((await hook(`gone-${backend}`)).status).toBe(404);
  });

  it('refuses bodies larger than MAX_RUN_INPUT_BYTES with a 413', async () => {
    const small = createApp({ ...appDeps(stack), config: { ...stack.config, MAX_RUN_INPUT_BYTES: 1024 } });
    const res = await hook(`open-${backend}`, { app: small, body: 'x'.repeat(2000), headers: { 'content-type': 'text/plain' } });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('payload_too_large');
    expect((await hook(`open-${backend}`, { app: small, body: 'x'.repeat(500), headers: { 'content-type': 'text/plain' } })).status).toBe(202);
  });

  it('rate-limits each path with 429 and Retry-After, counted across web processes', async () => {
    // Two app instances stand for two web processes: they share no memory, only Postgres, where the count lives.
    const [a, b] = [withConfig({ WEBHOOK_RATE_LIMIT_PER_MINUTE: 3 }), withConfig({ WEBHOOK_RATE_LIMIT_PER_MINUTE: 3 })];
    await insideOneMinute();
    const path = `limited-${backend}`;
    const statuses = [];
    for (const app of [a, b, a]) statuses.push((await hook(path, { app, ...signed('{}') })).status);
    expect(statuses).toEqual([202, 202, 202]);
    const limitedRes = await hook(path, { app: b, ...signed('{}') });
    expect(limitedRes.status).toBe(429);
    expect(limitedRes.body.error.code).toBe('rate_limited');
    const retryAfter = Number(limitedRes.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    // Another path has its own window (one delivery before, in the signature test).
    expect((await hook(`signed-${backend}`, { app: a, ...signed('{}') })).status).toBe(202);
  });

  it('counts only correctly signed deliveries against the path: a flood of bad signatures cannot lock out the sender', async () => {
    const app = withConfig({ WEBHOOK_RATE_LIMIT_PER_MINUTE: 3 });
    await insideOneMinute();
    const path = `flooded-${backend}`;
    const runsBefore = await stack.db.selectFrom('runs').select('id').execute();
    const flood = [];
    for (let i = 0; i < 8; i++) {
      flood.push((await hook(path, { app, body: '{}', headers: { 'content-type': 'application/json', 'x-signature': sign('guess', `${i}`) }, from: `192.0.2.${i + 1}` })).status);
    }
    expect(await stack.db.selectFrom('runs').select('id').execute()).toHaveLength(runsBefore.length);
    const real = await hook(path, { app, ...signed('{"order":1}'), from: '198.51.100.7' });
    expect({ flood, real: real.status }).toEqual({ flood: Array(8).fill(401), real: 202 });
    expect((await waitForRun(stack, real.body.runId)).input.body).toEqual({ order: 1 });
  });

  it('limits failed signatures per client address with 429 and Retry-After, never refusing a valid signature', async () => {
    // Two processes again: the failure count lives in Postgres too.
    const [a, b] = [withConfig({ WEBHOOK_FAILED_ATTEMPTS_PER_MINUTE: 3 }), withConfig({ WEBHOOK_FAILED_ATTEMPTS_PER_MINUTE: 3 })];
    await insideOneMinute();
    const path = `guarded-${backend}`;
    const bad = { body: '{}', headers: { 'content-type': 'application/json', 'x-signature': sign('guess', '{}') } };
    // Two addresses of one IPv6 /64 share a budget: rotating within it gains nothing.
    const attacker = ['2001:db8:1:2::a', '2001:db8:1:2:ffff::b'];
    const statuses = [];
    for (const [i, app] of [a, b, a].entries()) statuses.push((await hook(path, { app, ...bad, from: attacker[i % 2] })).status);
    expect(statuses).toEqual([401, 401, 401]);
    for (const app of [b, a]) {
      const refused = await hook(path, { app, ...bad, from: attacker[1] });
      expect(refused.status).toBe(429);
      expect(refused.body.error.code).toBe('rate_limited');
      const retryAfter = Number(refused.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
    }
    // The real sender elsewhere is unaffected, a valid signature from the exhausted address too
    // (behind a proxy every caller shares one address), and another address keeps its own budget.
    expect((await hook(path, { app: a, ...signed('{"n":1}'), from: '198.51.100.7' })).status).toBe(202);
    expect((await hook(path, { app: a, ...signed('{"n":2}'), from: attacker[0] })).status).toBe(202);
    expect((await hook(path, { app: b, ...bad, from: '198.51.100.7' })).status).toBe(401);
    expect((await hook(path, { app: b, ...bad, from: '2001:db8:1:3::a' })).status).toBe(401);
  });
});

/** A correctly signed JSON request for the `hook-secret` webhooks. */
function signed(body: string) {
  return { body, headers: { 'content-type': 'application/json', 'x-signature': sign('s3cret-value', body) } };
}

/** Fixed windows reset on the minute: start well inside one. */
async function insideOneMinute() {
  if (new Date().getSeconds() > 50) await new Promise((r) => setTimeout(r, (61 - new Date().getSeconds()) * 1000));
}

function appDeps(stack: TestStack) {
  return { db: stack.db, queues: stack.queues, config: stack.config, log: stack.log, engine: stack.engine, queueNames: [] };
}
