import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signBody } from '../lib/auth/webhook-signature.js';
import { createLogger } from '../lib/logger.js';
import { dumpDatabase, dumpRedis } from './db-dump.js';
import { backends, startStack, waitForRun, type TestStack } from './stack.js';
import { startTargetServer, type TargetServer } from './target-server.js';

const unique = (label: string) => `${label}${randomBytes(12).toString('hex')}`;

/** Every way a secret could be written down: as is, as hex (bytea), as base64 (Basic, JSON of bytes). */
function forms(secret: string): string[] {
  const buf = Buffer.from(secret);
  return [secret, buf.toString('hex'), buf.toString('base64').replace(/=+$/, ''), buf.toString('base64url').replace(/=+$/, '')];
}

describe.each(backends())('no secret at rest or in logs (%s backend)', (backend) => {
  let stack: TestStack;
  let target: TargetServer;
  const lines: string[] = [];
  const answers: string[] = [];
  const s = {
    bearer: unique('brr_'),
    basicUser: 'svc-user',
    basicPassword: unique('pwd_'),
    header: unique('hdr_'),
    openai: unique('sk-'),
    openaiBad: unique('sk-bad-'),
    hmac: unique('whsec_'),
  };
  const secrets = () => [s.bearer, s.basicPassword, `${s.basicUser}:${s.basicPassword}`, s.header, s.openai, s.openaiBad, s.hmac];
  const leaks = (text: string) => secrets().flatMap((secret) => forms(secret).filter((f) => text.includes(f)).map((f) => (f === secret ? secret : `${secret} (encoded as ${f})`)));
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await stack.request(method, path, { body });
    answers.push(JSON.stringify(res.body), JSON.stringify(Object.fromEntries(res.headers)));
    return res;
  };

  beforeAll(async () => {
    target = await startTargetServer();
    target.route('POST', '/v1/chat/completions', (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ choices: [{ message: { content: `you sent ${req.headers.authorization}` } }], usage: { total_tokens: 3 } }));
    });
    // A provider that echoes the key back in its error body: the engine must redact it.
    target.route('POST', '/bad/v1/chat/completions', (req, res) => {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: `invalid key: ${req.headers.authorization}` }));
    });
    const log = createLogger({ level: 'trace', name: 'secrets-test', destination: { write: (line: string) => void lines.push(line) } });
    stack = await startStack({ backend, log, env: { HTTP_ALLOW_HOSTS: '127.0.0.1' } });
    for (const [name, type, data] of [
      ['tok', 'bearer', { token: s.bearer }],
      ['basic', 'basic', { username: s.basicUser, password: s.basicPassword }],
      ['hdr', 'header', { name: 'X-Api-Key', value: s.header }],
      ['llm', 'openai', { apiKey: s.openai, baseUrl: `${target.url}/v1` }],
      ['llm-bad', 'openai', { apiKey: s.openaiBad, baseUrl: `${target.url}/bad/v1` }],
      ['hook-key', 'hmac', { secret: s.hmac }],
    ] as const) {
      const res = await call('POST', '/v1/credentials', { name, type, data });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
    }
  });
  afterAll(async () => {
    await stack?.close();
    await target?.close();
  });

  it('runs a workflow with every credential type, then finds none of them in the database, the queue, the logs or the answers', async () => {
    const echo = `${target.url}/echo`;
    const flow = {
      name: 'every-credential',
      nodes: [
        { id: 'bearer', type: 'http.request', credential: 'tok', params: { url: echo } },
        // /json, not /echo: an echoed Basic header is the known gap tested on its own below.
        { id: 'basic', type: 'http.request', credential: 'basic', params: { url: `${target.url}/json` } },
        { id: 'header', type: 'http.request', credential: 'hdr', params: { method: 'POST', url: echo, body: { hello: 'world' } } },
        { id: 'llm', type: 'llm.chat', credential: 'llm', params: { model: 'fake', messages: [{ role: 'user', content: 'hi' }] } },
        { id: 'llmBad', type: 'llm.chat', credential: 'llm-bad', params: { model: 'fake', messages: [{ role: 'user', content: 'hi' }] } },
      ],
      webhook: { path: 'signed-hook', secret: 'hook-key' },
    };
    expect((await call('POST', '/v1/workflows', flow)).status).toBe(201);
    const raw = JSON.stringify({ order: 7 });
    const hooked = await stack.app.request('/hooks/signed-hook', { method: 'POST', body: raw, headers: { 'content-type': 'application/json', 'x-signature': signBody(s.hmac, raw) } });
    answers.push(await hooked.text());
    expect(hooked.status).toBe(202);
    const run = await waitForRun(stack, JSON.parse(answers[answers.length - 1]!).runId, 30_000);
    answers.push(JSON.stringify(run));

    // The secrets were really used, so their absence below means something.
    const seen = (path: string, header: string) => target.requests.filter((r) => r.path.startsWith(path)).map((r) => r.headers[header]).filter((v) => v !== undefined);
    expect(seen('/echo', 'authorization')).toEqual([`Bearer ${s.bearer}`]);
    expect(seen('/json', 'authorization')).toEqual([`Basic ${Buffer.from(`${s.basicUser}:${s.basicPassword}`).toString('base64')}`]);
    expect(seen('/echo', 'x-api-key')).toContain(s.header);
    expect(seen('/v1/chat', 'authorization')).toEqual([`Bearer ${s.openai}`]);
    expect(seen('/bad/v1/chat', 'authorization')).toEqual([`Bearer ${s.openaiBad}`]);
    const nodes = Object.fromEntries(run.nodes.map((n: { id: string }) => [n.id, n]));
    expect(run.status).toBe('failed');
    expect(['bearer', 'basic', 'header', 'llm'].map((id) => nodes[id].status)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded']);
    expect(nodes.bearer.output.body.headers.authorization).toBe('Bearer [redacted]');
    expect(nodes.header.output.body.headers['x-api-key']).toBe('[redacted]');
    expect(nodes.llm.output.content).toBe('you sent Bearer [redacted]');
    expect(nodes.llmBad.error).toMatchObject({ code: 'llm_auth', message: expect.stringContaining('invalid key: Bearer [redacted]') });

    for (const path of ['/v1/runs', `/v1/runs/${run.id}`, '/v1/workflows/every-credential', '/v1/audit-log']) {
      expect((await call('GET', path)).status).toBe(200);
    }
    const listed = (await call('GET', '/v1/credentials')).body;
    expect(listed.items.find((c: { name: string }) => c.name === 'llm').hints).toEqual({ apiKey: `sk-…${s.openai.slice(-4)}`, baseUrl: `${target.url}/v1` });

    const dump = await dumpDatabase(stack.database.url);
    expect(dump.text).toContain(run.id);
    expect(dump.text).toContain('every-credential');
    const queue = backend === 'redis' ? await dumpRedis(stack.env.REDIS_URL!, stack.config.QUEUE_PREFIX) : '';
    if (backend === 'redis') expect(queue).toContain(run.id);
    expect(lines.filter((l) => /"node (finished|failed)"/.test(l)).length).toBeGreaterThanOrEqual(5);
    expect({ database: leaks(dump.text), queue: leaks(queue), logs: leaks(lines.join('\n')), answers: leaks(answers.join('\n')) }, `pg_dump used: ${dump.pgDump}`).toEqual({
      database: [],
      queue: [],
      logs: [],
      answers: [],
    });
  });

  it('keeps the integration credentials (slack, smtp, anthropic) out of outputs, errors, logs, the database and the queue', async () => {
    const k = { bot: unique('xoxb-'), hook: unique('whk'), smtp: unique('smtp_'), anthropic: unique('sk-ant-') };
    // Fakes that echo what they were sent: the engine must redact each.
    target.route('POST', '/slack/chat.postMessage', (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: true, channel: `you sent ${req.headers.authorization}`, ts: '1.2' }));
    });
    target.route('POST', `/services/${k.hook}`, (req, res) => void res.writeHead(400, { 'content-type': 'text/plain' }).end(`invalid_payload at ${req.url}`));
    target.route('POST', '/v1/messages', (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ content: [{ type: 'text', text: `key ${req.headers['x-api-key']}` }], usage: { input_tokens: 1 } }));
    });
    const smtp = new SMTPServer({
      disabledCommands: ['STARTTLS'],
      allowInsecureAuth: true,
      logger: false,
      // A careless server quoting the password back in its refusal.
      onAuth: (auth, _session, cb) => cb(new Error(`535 bad password ${auth.password}`)),
    });
    await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
    try {
      for (const [name, type, data] of [
        ['slack-bot', 'slack', { botToken: k.bot, baseUrl: `${target.url}/slack` }],
        ['slack-hook', 'slack', { webhookUrl: `${target.url}/services/${k.hook}` }],
        ['mail', 'smtp', { host: '127.0.0.1', port: (smtp.server.address() as AddressInfo).port, secure: false, username: 'bot', password: k.smtp }],
        ['claude', 'anthropic', { apiKey: k.anthropic, baseUrl: target.url }],
      ] as const) {
        const res = await call('POST', '/v1/credentials', { name, type, data });
        expect(res.status, JSON.stringify(res.body)).toBe(201);
      }
      const flow = {
        name: 'integrations',
        nodes: [
          { id: 'bot', type: 'slack.message', credential: 'slack-bot', params: { text: 'hi', channel: '#ops' } },
          { id: 'hook', type: 'slack.message', credential: 'slack-hook', params: { text: 'hi' } },
          { id: 'mail', type: 'email.send', credential: 'mail', params: { from: 'a@example.test', to: 'b@example.test', subject: 's', text: 't' } },
          { id: 'claude', type: 'llm.chat', credential: 'claude', params: { model: 'm', messages: [{ role: 'user', content: 'hi' }] } },
        ],
      };
      expect((await call('POST', '/v1/workflows', flow)).status).toBe(201);
      const started = await call('POST', '/v1/workflows/integrations/runs');
      const run = await waitForRun(stack, started.body.id, 30_000);
      answers.push(JSON.stringify(run));
      const nodes = Object.fromEntries(run.nodes.map((n: { id: string }) => [n.id, n]));
      // Each secret was really used and echoed back.
      expect(nodes.bot.output.channel).toBe('you sent Bearer [redacted]');
      expect(nodes.claude.output.content).toBe('key [redacted]');
      expect(nodes.hook.error.code).toBe('slack_error');
      expect(nodes.mail.error).toMatchObject({ code: 'smtp_auth', message: expect.stringContaining('535 bad password [redacted]') });
      expect(target.requests.some((r) => r.path === `/services/${k.hook}`)).toBe(true);
      const places = {
        answers: answers.join('\n') + JSON.stringify((await call('GET', '/v1/credentials')).body),
        logs: lines.join('\n'),
        database: (await dumpDatabase(stack.database.url)).text,
        queue: backend === 'redis' ? await dumpRedis(stack.env.REDIS_URL!, stack.config.QUEUE_PREFIX) : '',
      };
      const found = Object.entries(places).flatMap(([where, text]) => Object.values(k).flatMap((secret) => forms(secret).filter((f) => text.includes(f)).map((f) => `${where}: ${f}`)));
      expect(found).toEqual([]);
    } finally {
      await new Promise<void>((resolve) => smtp.close(() => resolve()));
    }
  });

  it('redacts a Basic credential a target echoes back (base64 of user:password)', async () => {
    const flow = { name: 'basic-echo', nodes: [{ id: 'basic', type: 'http.request', credential: 'basic', params: { url: `${target.url}/echo` } }] };
    expect((await call('POST', '/v1/workflows', flow)).status).toBe(201);
    const started = await call('POST', '/v1/workflows/basic-echo/runs');
    const run = await waitForRun(stack, started.body.id);
    expect(run.status).toBe('succeeded');
    expect(run.nodes[0].output.body.headers.authorization).not.toContain(Buffer.from(`${s.basicUser}:${s.basicPassword}`).toString('base64'));
    expect(leaks((await dumpDatabase(stack.database.url)).text)).toEqual([]);
  });
  it('redacts a token a target echoes as a JSON key or a response header name, whatever its case', async () => {
    // Mixed case on purpose: HTTP lower-cases header names, and the folded token is still a leak.
    const token = `MiXeD_${randomBytes(12).toString('hex')}`;
    target.route('GET', '/keys-echo', (req, res) => {
      const auth = String(req.headers.authorization);
      const echoed = auth.replace(/^Bearer /, '');
      res.writeHead(200, { 'content-type': 'application/json', [`x-echo-${echoed}`]: 'seen' });
      res.end(JSON.stringify({ [auth]: 'the header as a key', nested: { [echoed]: { [`${echoed}-again`]: [echoed] } }, [`Bearer ${'[redacted]'}`]: 'already here' }));
    });
    expect((await call('POST', '/v1/credentials', { name: 'tok-keys', type: 'bearer', data: { token } })).status).toBe(201);
    const flow = { name: 'keys-echo', nodes: [{ id: 'echo', type: 'http.request', credential: 'tok-keys', params: { url: `${target.url}/keys-echo` } }] };
    expect((await call('POST', '/v1/workflows', flow)).status).toBe(201);
    const started = await call('POST', '/v1/workflows/keys-echo/runs');
    const run = await waitForRun(stack, started.body.id);
    expect(target.requests.filter((r) => r.path === '/keys-echo').map((r) => r.headers.authorization)).toEqual([`Bearer ${token}`]);
    expect(run.status).toBe('succeeded');

    const output = run.nodes[0].output;
    expect(output.headers['x-echo-[redacted]']).toBe('seen');
    // Two keys collapse to "Bearer [redacted]": both members are kept.
    expect(output.body).toEqual({
      'Bearer [redacted]': 'already here',
      'Bearer [redacted] (2)': 'the header as a key',
      nested: { '[redacted]': { '[redacted]-again': ['[redacted]'] } },
    });
    const events = await stack.app.request(`/v1/runs/${run.id}/events`, { headers: { authorization: `Bearer ${stack.adminKey}` } });
    const streamed = await events.text();
    expect(streamed).toContain('run.succeeded');
    const places = {
      run: JSON.stringify((await call('GET', `/v1/runs/${run.id}`)).body),
      events: streamed,
      database: (await dumpDatabase(stack.database.url)).text,
      queue: backend === 'redis' ? await dumpRedis(stack.env.REDIS_URL!, stack.config.QUEUE_PREFIX) : '',
      logs: lines.join('\n'),
    };
    const found = Object.entries(places).flatMap(([where, text]) => forms(token).filter((f) => text.toLowerCase().includes(f.toLowerCase())).map((f) => `${where}: ${f}`));
    expect(found).toEqual([]);
  });
});
