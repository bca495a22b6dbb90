import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../scripts/free-port.js';
import { createPluginRegistry } from '../lib/providers/plugins.js';
import { ENTRIES, startProcess, type AppProcess } from './process.js';
import { runToCompletion, startStack, type TestStack } from './stack.js';
import { startTargetServer, type TargetServer } from './target-server.js';

const PLUGINS = ['./test/fixtures/plugins/sample.mjs', './test/fixtures/plugins/misbehaving.mjs'];
const TOKEN_A = 'tok-workspace-a-5f1c9e';
const TOKEN_B = 'tok-workspace-b-83d0aa';

let stack: TestStack;
let target: TargetServer;
let tenantKey: string;

beforeAll(async () => {
  target = await startTargetServer();
  stack = await startStack({ registry: await createPluginRegistry(PLUGINS), env: { HTTP_ALLOW_HOSTS: '127.0.0.1' } });
  const ws = await stack.request('POST', '/v1/workspaces', { body: { name: 'plugin-tenant' } });
  expect(ws.status).toBe(201);
  tenantKey = ws.body.apiKey.secret;
  for (const [key, token, name] of [[stack.adminKey, TOKEN_A, 'api'], [tenantKey, TOKEN_B, 'api'], [stack.adminKey, TOKEN_A, 'only-in-a']] as const) {
    const made = await stack.request('POST', '/v1/credentials', { key, body: { name, type: 'bearer', data: { token } } });
    expect(made.status).toBe(201);
  }
}, 60_000);
afterAll(async () => {
  await stack?.close();
  await target?.close();
});

const one = (name: string, node: Record<string, unknown>) => ({ name, nodes: [{ id: 'n', ...node }], edges: [] });

describe('plugin providers', () => {
  it('are served by GET /v1/providers and checked when a workflow is saved', async () => {
    const list = await stack.request('GET', '/v1/providers');
    const greet = list.body.items.find((p: any) => p.type === 'sample.greet');
    expect(greet).toMatchObject({ queue: null, params: { required: ['name'] } });
    const bad = await stack.request('POST', '/v1/workflows', { body: one('bad-greet', { type: 'sample.greet', params: { name: 3 } }) });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details).toContainEqual({ pointer: '/nodes/0/params/name', message: 'must be string' });
  });

  it('run like built-ins: params resolved and defaulted, output recorded', async () => {
    const run = await runToCompletion(stack, one('greet', { type: 'sample.greet', params: { name: '{{ input.who }}' } }), { who: 'Ada' });
    expect(run.status).toBe('succeeded');
    expect(run.nodes[0].output).toEqual({ message: 'Hello, Ada!' });
  });

  it('run on their own queue with ctx.fetch and the credential; secrets echoed back are redacted', async () => {
    const run = await runToCompletion(stack, one('fetch', { type: 'sample.fetch-json', params: { url: `${target.url}/echo` }, credential: 'api' }));
    expect(run.status).toBe('succeeded');
    expect(target.requests.at(-1)!.headers.authorization).toBe(`Bearer ${TOKEN_A}`);
    expect(run.nodes[0].output.body.headers.authorization).toBe('Bearer [redacted]');
    expect(JSON.stringify(run)).not.toContain(TOKEN_A);
  });

  it('ctx.fetch keeps the SSRF guard: an address outside HTTP_ALLOW_HOSTS fails the node', async () => {
    const run = await runToCompletion(stack, one('fetch-internal', { type: 'sample.fetch-json', params: { url: 'http://10.0.0.1:9/' } }));
    expect(run.nodes[0].error.code).toBe('ssrf_blocked');
  });

  it('see only their own workspace\'s credentials', async () => {
    const asTenant = async (name: string, credential: string) => {
      const def = one(name, { type: 'sample.fetch-json', params: { url: `${target.url}/echo` }, credential });
      expect((await stack.request('POST', '/v1/workflows', { key: tenantKey, body: def })).status).toBe(201);
      const started = await stack.request('POST', `/v1/workflows/${name}/runs`, { key: tenantKey, body: {} });
      for (;;) {
        const run = await stack.request('GET', `/v1/runs/${started.body.id}`, { key: tenantKey });
        if (['succeeded', 'failed'].includes(run.body.status)) return run.body;
        await new Promise((r) => setTimeout(r, 25));
      }
    };
    const own = await asTenant('tenant-fetch', 'api');
    expect(own.status).toBe('succeeded');
    expect(target.requests.at(-1)!.headers.authorization).toBe(`Bearer ${TOKEN_B}`);
    const other = await asTenant('tenant-steal', 'only-in-a');
    expect(other.nodes[0].error.code).toBe('credential_missing');
    expect(JSON.stringify([own, other])).not.toContain(TOKEN_A);
    // The context holds the node's own credential and nothing that reaches others.
    const ctx = await runToCompletion(stack, one('context', { type: 'bad.context', params: {} }));
    expect(ctx.nodes[0].output).toEqual({ keys: ['credential', 'fetch', 'idempotencyKey', 'log', 'params', 'run', 'settings', 'signal', 'startChildRun'], credential: null });
  });
});

describe('a misbehaving plugin fails its node, never the worker', () => {
  it.each([
    ['bad.throw-string', 'non_error_thrown', /non-Error value: "a plain string, not an Error"/],
    ['bad.throw-sync', 'provider_error', /thrown before any promise/],
    ['bad.return-function', 'invalid_output', /a function at \/callback/],
    ['bad.return-bigint', 'invalid_output', /a bigint at \/big/],
    ['bad.return-cycle', 'invalid_output', /not JSON/],
  ])('%s: %s', async (type, code, message) => {
    const run = await runToCompletion(stack, one(type.replace('.', '-'), { type, params: {} }));
    expect(run.status).toBe('failed');
    expect(run.nodes[0].error.code).toBe(code);
    expect(run.nodes[0].error.message).toMatch(message);
  });

  it('a hang ends at the node timeout, with code timeout', async () => {
    const started = Date.now();
    const run = await runToCompletion(stack, one('hang', { type: 'bad.hang', params: {}, timeoutMs: 300 }));
    expect(run.nodes[0].error.code).toBe('timeout');
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('retryable: false is honoured whatever the retry policy; a thrown non-Error is retried', async () => {
    const permanent = await runToCompletion(stack, one('permanent', { type: 'bad.permanent', params: {}, retry: { attempts: 3, backoff: 'fixed', delayMs: 10 } }));
    expect(permanent.nodes[0]).toMatchObject({ attempts: 1, error: { code: 'bad_permanent', message: 'refused on attempt 1' } });
    const retried = await runToCompletion(stack, one('retried', { type: 'bad.throw-string', params: {}, retry: { attempts: 2, backoff: 'fixed', delayMs: 10 } }));
    expect(retried.nodes[0]).toMatchObject({ attempts: 2, error: { code: 'non_error_thrown' } });
  });

  it('the worker still runs nodes afterwards', async () => {
    const run = await runToCompletion(stack, one('after', { type: 'sample.greet', params: { name: 'still here' } }));
    expect(run.status).toBe('succeeded');
  });
});

describe('CONVEYOR_PLUGINS in the real processes', () => {
  let bare: TestStack;
  const procs: AppProcess[] = [];
  beforeAll(async () => {
    bare = await startStack({ workers: false });
  });
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop('SIGTERM')));
    await bare?.close();
  });

  it('web serves and validates plugin types, the worker consumes their queue and runs them, the scheduler starts with them', async () => {
    const env = { ...bare.env, CONVEYOR_PLUGINS: PLUGINS.join(','), HTTP_ALLOW_HOSTS: '127.0.0.1', PORT: String(await freePort()) };
    const [web, worker, scheduler] = (['web', 'worker', 'scheduler'] as const).map((name) => startProcess(ENTRIES[name], env));
    procs.push(web!, worker!, scheduler!);
    await web!.waitFor(/web listening/);
    const consuming = JSON.parse(await worker!.waitFor(/worker consuming/));
    expect(consuming.queues).toEqual(expect.arrayContaining(['nodes', 'sample']));
    await scheduler!.waitFor(/scheduler started/);

    const api = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`http://127.0.0.1:${env.PORT}${path}`, { method, headers: { authorization: `Bearer ${bare.adminKey}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as any };
    };
    const providers = await api('GET', '/v1/providers');
    expect(providers.body.items.map((p: { type: string }) => p.type)).toEqual(expect.arrayContaining(['sample.greet', 'sample.fetch-json', 'bad.hang']));
    expect((await api('POST', '/v1/workflows', one('proc-bad', { type: 'sample.greet', params: {} }))).status).toBe(400);
    expect((await api('POST', '/v1/workflows', one('proc-fetch', { type: 'sample.fetch-json', params: { url: `${target.url}/json` } }))).status).toBe(201);
    const started = await api('POST', '/v1/workflows/proc-fetch/runs', {});
    expect(started.status).toBe(202);
    let run: any;
    for (const deadline = Date.now() + 20_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) {
      run = (await api('GET', `/v1/runs/${started.body.id}`)).body;
      if (run.status === 'succeeded' || run.status === 'failed') break;
    }
    expect(run).toMatchObject({ status: 'succeeded', nodes: [{ output: { status: 200, body: { ok: true, n: 42 } } }] });

    // A plugin's stray rejection is logged; the worker and its other nodes carry on.
    const finish = async (name: string) => {
      const id = (await api('POST', `/v1/workflows/${name}/runs`, {})).body.id;
      for (const deadline = Date.now() + 20_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) {
        const r = (await api('GET', `/v1/runs/${id}`)).body;
        if (r.status === 'succeeded' || r.status === 'failed') return r;
      }
      throw new Error(`run ${id} did not finish`);
    };
    expect((await api('POST', '/v1/workflows', one('proc-stray', { type: 'bad.stray-rejection', params: {} }))).status).toBe(201);
    expect(await finish('proc-stray')).toMatchObject({ status: 'succeeded' });
    await worker!.waitFor(/unhandled rejection/);
    expect(worker!.child.exitCode).toBeNull();
    expect(await finish('proc-fetch')).toMatchObject({ status: 'succeeded' });
  }, 60_000);
});
