import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeLlm, type FakeLlm } from '../../test/fake-llm.js';
import { callProvider, rejection, type CallOptions } from '../../test/provider-context.js';
import { startTargetServer, type TargetServer } from '../../test/target-server.js';
import { paramsJsonSchema } from './params-schema.js';
import { createPluginRegistry } from './plugins.js';
import { providerCatalog } from './registry.js';
import { Suspension, type Provider } from './types.js';

/**
 * The contract every provider keeps (STYLE.md: one shared suite, as Hono's routers share one):
 * params convert to JSON Schema, an abort (already fired or mid-flight) makes `run` reject
 * promptly, the output is JSON (or a Suspension), and no secret from the credential reaches an
 * error message. It runs over the registry itself — every built-in plus a sample plugin — so a
 * new provider without a row here fails the suite. `servers` holds what the rows may call.
 */
const SECRET = 'sekrit-9c41d7e2b8a6';
const registry = await createPluginRegistry(['./test/fixtures/plugins/sample.mjs']);

interface Servers {
  target: TargetServer;
  llm: FakeLlm;
  /** An SMTP server that takes mail from user `u` with password SECRET; mail to slow@ never finishes. */
  smtp: { port: number };
}

interface Call {
  params: unknown;
  opts?: CallOptions;
}

interface Row {
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
const slackBot = (s: Servers, token = SECRET): CallOptions => ({ ...local, credential: { type: 'slack', data: { botToken: token, baseUrl: `${s.target.url}/slack` } } });
const smtp = (s: Servers, password = SECRET, allow = ['127.0.0.1']): CallOptions => ({
  settings: { httpAllowHosts: allow },
  credential: { type: 'smtp', data: { host: '127.0.0.1', port: s.smtp.port, username: 'u', password } },
});
const mail = (to = 'ops@example.test') => ({ from: 'bot@example.test', to, subject: 'conformance', text: 'hello' });

/** One row per provider type in the registry. */
const ROWS: Record<string, Row> = {
  noop: {
    ok: () => ({ params: { a: 1, nested: { b: [true, null, 'x'] } } }),
    invalid: SECRET,
    failing: () => [],
  },
  transform: {
    ok: () => ({ params: { value: { id: 7, tags: ['a'] } } }),
    invalid: { value: 1, extra: SECRET },
    failing: () => [],
  },
  'http.request': {
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
  'llm.chat': {
    ok: (s) => chat(s, 'gpt-test'),
    slow: (s) => chat(s, 'slow'),
    invalid: { model: 'm', messages: [{ role: SECRET, content: 'x' }] },
    failing: (s) => [
      chat(s, 'status-401'),
      chat(s, 'status-500'),
      chat(s, 'not-json'),
      chat(s, 'redirect'),
      chat(s, 'gpt-test', { credential: openai }),
      chat(s, 'status-401', { ...local, credential: { type: 'anthropic', data: { apiKey: SECRET } } }),
    ],
  },
  delay: {
    ok: () => ({ params: { ms: 50 } }),
    invalid: { ms: 5, until: SECRET },
    failing: () => [{ params: { until: '2999-01-01T00:00:00Z' }, opts: { credential: bearer } }],
  },
  'wait.signal': {
    ok: () => ({ params: { timeoutMs: 1000 } }),
    invalid: { timeoutMs: SECRET },
    failing: () => [],
  },
  'workflow.run': {
    ok: () => ({ params: { workflow: 'child', input: { n: 1 } }, opts: { startChildRun: async () => ({ runId: 'child-run-1', status: 'running' }) } }),
    invalid: { workflow: 'child', version: SECRET },
    failing: () => [
      { params: { workflow: 'child' }, opts: { credential: bearer, startChildRun: async () => { throw new Error("no workflow named 'child' in this workspace"); } } },
    ],
  },
  'slack.message': {
    ok: (s) => ({ params: { text: 'hi', channel: '#ops' }, opts: slackBot(s) }),
    slow: (s) => ({ params: { text: 'hi' }, opts: { ...local, credential: { type: 'slack', data: { webhookUrl: `${s.target.url}/slow?ms=20000` } } } }),
    invalid: { text: 'hi', channel: { name: SECRET } },
    failing: (s) => [
      { params: { text: 'hi', channel: '#ops' }, opts: slackBot(s, `${SECRET}-wrong`) },
      { params: { text: 'hi' }, opts: { ...local, credential: { type: 'slack', data: { webhookUrl: `${s.target.url}/status/404?k=${SECRET}` } } } },
      { params: { text: 'hi', channel: '#ops' }, opts: { ...slackBot(s), settings: { httpAllowHosts: [] } } },
    ],
  },
  'email.send': {
    ok: (s) => ({ params: mail(), opts: smtp(s) }),
    slow: (s) => ({ params: mail('slow@example.test'), opts: smtp(s) }),
    invalid: { ...mail(), subject: `x\r\nBcc: ${SECRET}` },
    failing: (s) => [
      { params: mail(), opts: smtp(s, `${SECRET}-wrong`) },
      { params: mail(), opts: smtp(s, SECRET, []) },
    ],
  },
  'sample.greet': {
    ok: () => ({ params: { name: 'Ada' } }),
    invalid: { name: 'Ada', extra: SECRET },
    failing: () => [],
  },
  'sample.fetch-json': {
    ok: (s) => ({ params: { url: `${s.target.url}/json` }, opts: { ...local, credential: bearer } }),
    slow: (s) => ({ params: { url: `${s.target.url}/slow?ms=20000` }, opts: local }),
    invalid: { url: SECRET, extra: SECRET },
    failing: (s) => [
      { params: { url: `${s.target.url}/status/401` }, opts: { ...local, credential: bearer } },
      { params: { url: `${s.target.url}/json` }, opts: { credential: bearer } }, // SSRF-blocked
    ],
  },
};

const servers = {} as Servers;
let smtpServer: SMTPServer;
beforeAll(async () => {
  servers.target = await startTargetServer();
  servers.target.route('POST', '/slack/chat.postMessage', (req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    const ok = req.headers.authorization === `Bearer ${SECRET}`;
    res.end(JSON.stringify(ok ? { ok: true, channel: 'C1', ts: '1.1' } : { ok: false, error: 'invalid_auth' }));
  });
  servers.llm = await startFakeLlm();
  smtpServer = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    logger: false,
    onAuth: (auth, _session, cb) => (auth.password === SECRET ? cb(null, { user: auth.username }) : cb(new Error(`535 bad password ${auth.password}`))),
    onData(stream, session, cb) {
      stream.resume();
      stream.on('end', () => (session.envelope.rcptTo.some((r) => r.address === 'slow@example.test') ? setTimeout(cb, 20_000).unref() : cb()));
    },
  });
  await new Promise<void>((resolve) => smtpServer.listen(0, '127.0.0.1', resolve));
  servers.smtp = { port: (smtpServer.server.address() as AddressInfo).port };
});
afterAll(async () => {
  await servers.target.close();
  await servers.llm.close();
  await new Promise<void>((resolve) => smtpServer.close(() => resolve()));
});

const run = (provider: Provider, call: Call, extra: CallOptions = {}) => callProvider(provider, call.params, { ...call.opts, ...extra });
const providers = registry.list().map((p) => [p.type, p, ROWS[p.type]] as const);

it('has a row for every registered provider (built-in and plugin), and no row for a provider that is gone', () => {
  expect(providers.length).toBeGreaterThanOrEqual(11);
  expect(providers.filter(([, , row]) => !row).map(([type]) => type)).toEqual([]);
  expect(Object.keys(ROWS).filter((type) => !registry.get(type))).toEqual([]);
});

describe.each(providers)('provider %s', (type, provider, maybeRow) => {
  const row = maybeRow ?? { ok: () => ({ params: {} }), invalid: undefined, failing: () => [] };

  it('is in the catalog with its params as a JSON Schema of an object, as GET /v1/providers serves them', () => {
    const entry = providerCatalog(registry).find((p) => p.type === type);
    expect(entry).toBeDefined();
    const schema = paramsJsonSchema(provider.params);
    expect(entry!.params).toEqual(schema);
    expect(schema.type).toBe('object');
    expect(JSON.parse(JSON.stringify(schema))).toEqual(schema);
    expect(provider.description.length).toBeGreaterThan(10);
  });

  it('returns JSON (or a Suspension whose outcome is JSON)', async () => {
    const out = await run(provider, row.ok(servers));
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
    const err = await rejection(run(provider, row.ok(servers), { signal: AbortSignal.abort(reason) }));
    expect(err).toBe(reason);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('keeps every secret out of its error messages', async () => {
    const messages: string[] = [];
    const parsed = provider.params.safeParse(row.invalid);
    expect(parsed.success).toBe(false);
    if (!parsed.success) messages.push(parsed.error.message, ...parsed.error.issues.map((i) => i.message));
    for (const call of row.failing(servers)) {
      const err = await rejection(run(provider, call));
      messages.push(err.message, String(err.stack ?? ''), JSON.stringify({ ...err, message: err.message }));
    }
    expect(messages.length).toBeGreaterThan(0);
    for (const m of messages) expect(m).not.toContain(SECRET);
  });
});

const inFlight = providers.flatMap(([type, provider, row]) => (row?.slow ? [[type, provider, row] as const] : []));
describe.each(inFlight)('provider %s in flight', (_type, provider, row) => {
  it('rejects promptly when aborted mid-flight', async () => {
    const ac = new AbortController();
    const pending = rejection(run(provider, row.slow!(servers), { signal: ac.signal }));
    await new Promise((r) => setTimeout(r, 150));
    const started = Date.now();
    const reason = new Error('cancelled mid-flight');
    ac.abort(reason);
    expect(await pending).toBe(reason);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('rejects at its timeout signal', async () => {
    const started = Date.now();
    const err = await rejection(run(provider, row.slow!(servers), { signal: AbortSignal.timeout(200) }));
    expect(err.name).toBe('TimeoutError');
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});
