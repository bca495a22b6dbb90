import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { snapshotTables } from './db-snapshot.js';
import { startStack, waitForRun, type TestStack } from './stack.js';

/**
 * Cross-workspace matrix: workspace B's admin key, aimed at workspace A's ids on every
 * id-taking route of the route table, gets 404 (never 403) and changes nothing; B's lists
 * never show A's rows. A new id-taking route fails this test until it gets a row in TARGETS
 * (and a body in BODIES if it takes one).
 */
interface Fixture {
  workflow: { id: string; name: string };
  run: { id: string };
  credential: { id: string };
  apiKey: { id: string };
  schedule?: { id: string };
  /** A person who is a member of A, and a console session opened with A's admin key. */
  user: { id: string };
  session: { id: string };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const TARGETS: { pattern: RegExp; params: (a: Fixture) => Record<string, string>[] }[] = [
  { pattern: /^\/v1\/workflows\/\{idOrName\}/, params: (a) => [{ idOrName: a.workflow.id }, { idOrName: a.workflow.name }] },
  { pattern: /^\/v1\/runs\/\{id\}/, params: (a) => [{ id: a.run.id, nodeId: 'gate' }] },
  { pattern: /^\/v1\/credentials\/\{id\}/, params: (a) => [{ id: a.credential.id }] },
  { pattern: /^\/v1\/api-keys\/\{id\}/, params: (a) => [{ id: a.apiKey.id }] },
  { pattern: /^\/v1\/schedules\/\{id\}/, params: (a) => (a.schedule ? [{ id: a.schedule.id }] : []) },
  { pattern: /^\/v1\/users\/\{id\}/, params: (a) => [{ id: a.user.id }] },
  { pattern: /^\/v1\/me\/sessions\/\{id\}/, params: (a) => [{ id: a.session.id }] },
];

const definition = (name: string) => ({
  name,
  nodes: [
    { id: 'gate', type: 'wait.signal', params: {} },
    { id: 'after', type: 'transform', params: { value: '{{ nodes.gate.output }}' } },
  ],
  edges: [{ from: 'gate', to: 'after' }],
});

/** Bodies that would succeed in A's own workspace: a 404 is then tenancy, not validation. */
const BODIES: Record<string, (a: Fixture) => unknown> = {
  'PUT /v1/workflows/{idOrName}': (a) => ({ ...definition(a.workflow.name), description: 'written by B' }),
  'POST /v1/workflows/{idOrName}/runs': () => ({ input: { from: 'B' } }),
  'POST /v1/runs/{id}/nodes/{nodeId}/signal': () => ({ payload: { from: 'B' } }),
  'PUT /v1/credentials/{id}': () => ({ data: { token: 'written-by-b' } }),
  'PATCH /v1/schedules/{id}': () => ({ enabled: false }),
  'PATCH /v1/users/{id}': () => ({ role: 'admin' }),
};

describe('workspaces are isolated', () => {
  let stack: TestStack;
  let a: Fixture;
  let bKey: string;
  let ops: { method: string; path: string; hasBody: boolean }[];
  const asB = (method: string, path: string, body?: unknown) => stack.request(method, path, { key: bKey, body });

  beforeAll(async () => {
    stack = await startStack();
    const spec = await stack.request('GET', '/openapi.json', { key: null });
    ops = Object.entries(spec.body.paths as Record<string, Record<string, { requestBody?: unknown }>>).flatMap(([path, o]) =>
      Object.entries(o).map(([method, op]) => ({ method: method.toUpperCase(), path, hasBody: op.requestBody !== undefined })),
    );

    const wf = await stack.request('POST', '/v1/workflows', { body: definition('only-in-a') });
    expect(wf.status).toBe(201);
    const run = await stack.request('POST', '/v1/workflows/only-in-a/runs', { body: { input: { n: 1 } } });
    expect(run.status).toBe(202);
    const cred = await stack.request('POST', '/v1/credentials', { body: { name: 'a-token', type: 'bearer', data: { token: 'a-secret-token-0001' } } });
    expect(cred.status).toBe(201);
    const key = await stack.request('POST', '/v1/api-keys', { body: { name: 'a-viewer', role: 'viewer' } });
    expect(key.status).toBe(201);
    // A member of A (invited; without SMTP_URL the link comes back) and a console session of A's key.
    const invitation = await stack.request('POST', '/v1/invitations', { body: { email: 'member-of-a@example.test', role: 'editor' } });
    expect(invitation.status).toBe(201);
    const accepted = await stack.app.request(`/ui/invite/${invitation.body.link.split('/').pop()}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'A member', password: 'a long enough password' }) });
    expect(accepted.status).toBe(201);
    const user = { id: ((await accepted.json()) as { userId: string }).userId };
    expect((await stack.app.request('/ui/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apiKey: stack.adminKey }) })).status).toBe(201);
    const session = { id: (await stack.request('GET', '/v1/me/sessions')).body.items[0].id as string };
    a = { workflow: { id: wf.body.id, name: 'only-in-a' }, run: { id: run.body.id }, credential: { id: cred.body.id }, apiKey: { id: key.body.id }, user, session };
    if (ops.some((o) => o.method === 'POST' && o.path === '/v1/schedules')) {
      const schedule = await stack.request('POST', '/v1/schedules', { body: { workflow: 'only-in-a', cron: '0 0 1 1 *' } });
      expect(schedule.status, JSON.stringify(schedule.body)).toBe(201);
      a.schedule = { id: schedule.body.id };
    }

    const ws = await stack.request('POST', '/v1/workspaces', { body: { name: 'tenant-b' } });
    expect(ws.status).toBe(201);
    expect(ws.body).toMatchObject({ id: expect.any(String), name: 'tenant-b', apiKey: { id: expect.any(String), secret: expect.stringMatching(/^cvy_/) } });
    bKey = ws.body.apiKey.secret;
    // B has a workflow of its own, to see that B's names resolve in B only.
    expect((await asB('POST', '/v1/workflows', definition('shared-name'))).status).toBe(201);
    expect((await stack.request('POST', '/v1/workflows', { body: definition('shared-name') })).status).toBe(201);

    // Let A's run reach its waiting node, so a signal from A would be accepted: B's 404 is then tenancy.
    const deadline = Date.now() + 20_000;
    for (;;) {
      const r = await stack.request('GET', `/v1/runs/${a.run.id}`);
      if (r.body.nodes?.find((n: { id: string }) => n.id === 'gate')?.status === 'waiting') break;
      if (Date.now() > deadline) throw new Error(`A's run never waited: ${JSON.stringify(r.body)}`);
      await new Promise((res) => setTimeout(res, 50));
    }
  });
  afterAll(() => stack.close());

  it("answers 404 to every id-taking route called with another workspace's ids, and changes nothing", async () => {
    const before = await snapshotTables(stack.db, { ignoreColumns: { api_keys: ['last_used_at'] }, ignoreTables: ['api_key_rate_windows'] });
    const idRoutes = ops.filter((o) => o.path.startsWith('/v1/') && o.path.includes('{'));
    expect(idRoutes.length).toBeGreaterThanOrEqual(12);
    const failures: string[] = [];
    let calls = 0;
    for (const op of idRoutes) {
      const target = TARGETS.find((t) => t.pattern.test(op.path));
      if (!target) {
        failures.push(`${op.method} ${op.path}: no row in TARGETS; add one`);
        continue;
      }
      const bodyFor = BODIES[`${op.method} ${op.path}`];
      if (op.hasBody && !bodyFor && op.method !== 'POST') failures.push(`${op.method} ${op.path}: takes a body but has no entry in BODIES; add one`);
      for (const params of target.params(a)) {
        const fill = (p: Record<string, string>) => op.path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(p[name] ?? 'missing-param'));
        const path = fill(params);
        const res = await asB(op.method, path, bodyFor?.(a));
        calls++;
        if (res.status !== 404 || res.body?.error?.code !== 'not_found') {
          failures.push(`${op.method} ${path}: ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
          continue;
        }
        // No hint that it exists: the answer is the one for an id that exists nowhere.
        const ghost = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, k === 'nodeId' ? v : UUID.test(v) ? randomUUID() : 'exists-nowhere']));
        const control = await asB(op.method, fill(ghost), bodyFor?.(a));
        const scrub = (body: unknown, p: Record<string, string>) => Object.values(p).reduce((text, v) => text.split(v).join('<id>'), JSON.stringify(body));
        if (scrub(res.body, params) !== scrub(control.body, ghost)) failures.push(`${op.method} ${path}: answers differently from an id that exists nowhere: ${JSON.stringify(res.body)} vs ${JSON.stringify(control.body)}`);
      }
    }
    expect(failures).toEqual([]);
    expect(calls).toBeGreaterThanOrEqual(idRoutes.length);
    expect(await snapshotTables(stack.db, { ignoreColumns: { api_keys: ['last_used_at'] }, ignoreTables: ['api_key_rate_windows'] })).toEqual(before);
  });

  it("shows B none of A's rows in any list, and A still sees its own", async () => {
    const aIds = [a.workflow.id, a.run.id, a.credential.id, a.apiKey.id, a.schedule?.id].filter((x): x is string => !!x);
    const lists = ops.filter((o) => o.method === 'GET' && o.path.startsWith('/v1/') && !o.path.includes('{')).map((o) => o.path);
    expect(lists).toEqual(expect.arrayContaining(['/v1/workflows', '/v1/runs', '/v1/credentials', '/v1/api-keys', '/v1/audit-log']));
    for (const path of [...lists, `/v1/runs?workflow=${a.workflow.id}`, '/v1/runs?workflow=only-in-a', `/v1/schedules?workflow=${a.workflow.id}`]) {
      const res = await asB('GET', path);
      expect(res.status, path).toBeLessThan(500);
      for (const id of aIds) expect(JSON.stringify(res.body), `${path} shows ${id}`).not.toContain(id);
    }
    const bRuns = await asB('GET', '/v1/runs?workflow=only-in-a');
    expect(bRuns.body.items ?? []).toEqual([]);
    // The ids are real: A reads each of them.
    expect((await stack.request('GET', `/v1/workflows/${a.workflow.id}`)).status).toBe(200);
    expect((await stack.request('GET', `/v1/runs/${a.run.id}`)).status).toBe(200);
    expect((await stack.request('GET', `/v1/credentials/${a.credential.id}`)).status).toBe(200);
    expect((await stack.request('GET', '/v1/api-keys')).body.items.map((k: { id: string }) => k.id)).toContain(a.apiKey.id);
    // Same name, two workspaces: each key resolves its own.
    const mine = await asB('GET', '/v1/workflows/shared-name');
    const theirs = await stack.request('GET', '/v1/workflows/shared-name');
    expect(mine.body.id).not.toBe(theirs.body.id);
  });

  it("never lets a run use another workspace's credential", async () => {
    const flow = { name: 'steal', nodes: [{ id: 'call', type: 'http.request', credential: 'a-token', params: { url: 'http://127.0.0.1:9/never' } }] };
    expect((await asB('POST', '/v1/workflows', flow)).status).toBe(201);
    const started = await asB('POST', '/v1/workflows/steal/runs');
    expect(started.status).toBe(202);
    const deadline = Date.now() + 20_000;
    let run: any;
    do {
      run = (await asB('GET', `/v1/runs/${started.body.id}`)).body;
      if (['succeeded', 'failed', 'cancelled'].includes(run.status)) break;
      await new Promise((r) => setTimeout(r, 50));
    } while (Date.now() < deadline);
    expect(run.status).toBe('failed');
    expect(run.nodes[0].error.code).toBe('credential_missing');
  });

  it('lets only admins of the default workspace create workspaces', async () => {
    const fromB = await asB('POST', '/v1/workspaces', { name: 'tenant-c' });
    expect(fromB.status).toBe(403);
    const editor = await stack.request('POST', '/v1/api-keys', { body: { name: 'ed', role: 'editor' } });
    expect((await stack.request('POST', '/v1/workspaces', { key: editor.body.secret, body: { name: 'tenant-c' } })).status).toBe(403);
    expect((await stack.request('POST', '/v1/workspaces', { body: { name: 'tenant-b' } })).status).toBe(409);
    expect(await stack.db.selectFrom('workspaces').select('name').orderBy('name').execute()).toEqual([{ name: 'default' }, { name: 'tenant-b' }]);
    // A's run is untouched by all of the above and still completes for A.
    expect((await stack.request('POST', `/v1/runs/${a.run.id}/nodes/gate/signal`, { body: { payload: { ok: true } } })).status).toBe(202);
    const done = await waitForRun(stack, a.run.id);
    expect(done.status).toBe('succeeded');
    expect(done.output).toEqual({ after: { ok: true } });
  });
});
