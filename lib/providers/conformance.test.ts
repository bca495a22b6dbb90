import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startFakeLlm, type FakeLlm } from '../../test/fake-llm.js';
import { callProvider, rejection, type CallOptions } from '../../test/provider-context.js';
import { startTargetServer, type TargetServer } from '../../test/target-server.js';
import httpRequest from './http-request.js';
import llmChat from './llm-chat.js';
import noop from './noop.js';
import { createRegistry, providerCatalog } from './registry.js';
import delay from './delay.js';
import transform from './transform.js';
import waitSignal from './wait-signal.js';
import workflowRun from './workflow-run.js';
import { Suspension, type Provider } from './types.js';

/**
 * The contract every provider keeps (STYLE.md: one shared suite, as Hono's routers share one):
 * params convert to JSON Schema, an abort (already fired or mid-flight) makes `run` reject
 * promptly, the output is JSON (or a Suspension), and no secret from the credential reaches an
 * error message. Add a row per provider; `servers` holds what the rows may call.
 */
const SECRET = 'sekrit-9c41d7e2b8a6';

interface Servers {
  target: TargetServer;
  llm: FakeLlm;
}

interface Call {
  params: unknown;
  opts?: CallOptions;
}

interface Row {
  provider: Provider;
  /** A call that succeeds. */
  ok(s: Servers): Call;
  /** A call that stays in flight until aborted (network providers). */
  slow?(s: Servers): Call;
  /** Params the schema refuses, holding SECRET in a value. */
  invalid: unknown;
  /** Calls that fail at run time with SECRET in the credential. */
  failing(s: Servers): Call[];
}

const local: CallOptions = { settings: { httpAllowHosts: ['127.0.0.1'] } };
const bearer: CallOptions['credential'] = { type: 'bearer', data: { token: SECRET } };
const openai: CallOptions['credential'] = { type: 'openai', data: { apiKey: SECRET } };
const chat = (s: Servers, model: string, opts: CallOptions = { ...local, credential: openai }): Call => ({
  params: { baseUrl: s.llm.baseUrl, model, messages: [{ role: 'user', content: 'hi' }] },
  opts,
});

const ROWS: Row[] = [
  {
    provider: noop,
    ok: () => ({ params: { a: 1, nested: { b: [true, null, 'x'] } } }),
    invalid: SECRET,
    failing: () => [],
  },
  {
    provider: transform,
    ok: () => ({ params: { value: { id: 7, tags: ['a'] } } }),
    invalid: { value: 1, extra: SECRET },
    failing: () => [],
  },
  {
    provider: httpRequest,
    ok: (s) => ({ params: { url: `${s.target.url}/json` }, opts: local }),
    slow: (s) => ({ params: { url: `${s.target.url}/slow?ms=20000` }, opts: local }),
    invalid: { url: 'http://x.example', headers: { 'x-key': `${SECRET}\r\nInjected: 1` } },
    failing: (s) => [
      { params: { url: `${s.target.url}/status/500` }, opts: { ...local, credential: bearer } },
      { params: { url: `${s.target.url}/status/401` }, opts: { ...local, credential: { type: 'basic', data: { username: 'u', password: SECRET } } } },
      { params: { url: 'http://127.0.0.1:1/' }, opts: { ...local, credential: { type: 'header', data: { name: 'x-key', value: SECRET } } } },
      { params: { url: `${s.target.url}/json` }, opts: { credential: bearer } }, // SSRF-blocked
      { params: { url: `${s.target.url}/json` }, opts: { ...local, credential: openai } }, // wrong credential type
    ],
  },
  {
    provider: llmChat,
    ok: (s) => chat(s, 'gpt-test'),
    slow: (s) => chat(s, 'slow'),
    invalid: { model: 'm', messages: [{ role: SECRET, content: 'x' }] },
    failing: (s) => [chat(s, 'status-401'), chat(s, 'status-500'), chat(s, 'not-json'), chat(s, 'redirect'), chat(s, 'gpt-test', { credential: openai })],
  },
  {
    provider: delay,
    ok: () => ({ params: { ms: 50 } }),
    invalid: { ms: 5, until: SECRET },
    failing: () => [{ params: { until: '2999-01-01T00:00:00Z' }, opts: { credential: bearer } }],
  },
  {
    provider: waitSignal,
    ok: () => ({ params: { timeoutMs: 1000 } }),
    invalid: { timeoutMs: SECRET },
    failing: () => [],
  },
  {
    provider: workflowRun,
    ok: () => ({ params: { workflow: 'child', input: { n: 1 } }, opts: { startChildRun: async () => ({ runId: 'child-run-1', status: 'running' }) } }),
    invalid: { workflow: 'child', version: SECRET },
    failing: () => [
      { params: { workflow: 'child' }, opts: { credential: bearer, startChildRun: async () => { throw new Error("no workflow named 'child' in this workspace"); } } },
    ],
  },
];

const servers = {} as Servers;
beforeAll(async () => {
  servers.target = await startTargetServer();
  servers.llm = await startFakeLlm();
});
afterAll(async () => {
  await servers.target.close();
  await servers.llm.close();
});

const run = (row: Row, call: Call, extra: CallOptions = {}) => callProvider(row.provider, call.params, { ...call.opts, ...extra });

describe.each(ROWS.map((row) => [row.provider.type, row] as const))('provider %s', (_type, row) => {
  it('is registered and its params convert to JSON Schema, as GET /v1/providers serves them', () => {
    const entry = providerCatalog(createRegistry()).find((p) => p.type === row.provider.type);
    expect(entry).toBeDefined();
    const schema = z.toJSONSchema(row.provider.params, { io: 'input', unrepresentable: 'any' });
    expect(entry!.params).toEqual(schema);
    expect(schema.type).toBe('object');
    expect(JSON.parse(JSON.stringify(schema))).toEqual(schema);
    expect(row.provider.description.length).toBeGreaterThan(10);
  });

  it('returns JSON (or a Suspension whose outcome is JSON)', async () => {
    const out = await run(row, row.ok(servers));
    if (out instanceof Suspension) {
      expect(typeof out.reason).toBe('string');
      if (out.onWake) expect(JSON.parse(JSON.stringify(out.onWake))).toEqual(out.onWake);
    } else {
      expect(out).not.toBeUndefined();
      expect(JSON.parse(JSON.stringify(out))).toEqual(out);
    }
  });

  it('rejects promptly when the signal is already aborted', async () => {
    const reason = new Error('aborted before start');
    const started = Date.now();
    const err = await rejection(run(row, row.ok(servers), { signal: AbortSignal.abort(reason) }));
    expect(err).toBe(reason);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('keeps every secret out of its error messages', async () => {
    const messages: string[] = [];
    const parsed = row.provider.params.safeParse(row.invalid);
    expect(parsed.success).toBe(false);
    if (!parsed.success) messages.push(parsed.error.message, ...parsed.error.issues.map((i) => i.message));
    for (const call of row.failing(servers)) {
      const err = await rejection(run(row, call));
      messages.push(err.message, String(err.stack ?? ''), JSON.stringify({ ...err, message: err.message }));
    }
    expect(messages.length).toBeGreaterThan(0);
    for (const m of messages) expect(m).not.toContain(SECRET);
  });
});

const inFlight = ROWS.filter((row) => row.slow);
describe.each(inFlight.map((row) => [row.provider.type, row] as const))('provider %s in flight', (_type, row) => {
  it('rejects promptly when aborted mid-flight', async () => {
    const ac = new AbortController();
    const pending = rejection(run(row, row.slow!(servers), { signal: ac.signal }));
    await new Promise((r) => setTimeout(r, 150));
    const started = Date.now();
    const reason = new Error('cancelled mid-flight');
    ac.abort(reason);
    expect(await pending).toBe(reason);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('rejects at its timeout signal', async () => {
    const started = Date.now();
    const err = await rejection(run(row, row.slow!(servers), { signal: AbortSignal.timeout(200) }));
    expect(err.name).toBe('TimeoutError');
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});
