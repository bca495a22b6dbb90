import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, waitForRun, type TestStack } from '../../../test/stack.js';

/**
 * Every mutation leaves an audit entry naming the key, the workspace, the action, the target
 * and the request id. The table below exercises every mutating route of the route table; a new
 * one fails the coverage check until it gets a row.
 */
interface Step { op: string; action: string; call: (s: TestStack, ids: Record<string, string>) => Promise<{ status: number; body: any }>; target?: (body: any, ids: Record<string, string>) => string }

const flow = { name: 'audited', nodes: [{ id: 'gate', type: 'wait.signal', params: {} }] };

const STEPS: Step[] = [
  { op: 'POST /v1/workflows', action: 'workflow.create', call: (s) => s.request('POST', '/v1/workflows', { body: flow }), target: (b) => b.id },
  { op: 'PUT /v1/workflows/{idOrName}', action: 'workflow.update', call: (s) => s.request('PUT', '/v1/workflows/audited', { body: { ...flow, description: 'v2' } }), target: (b) => b.id },
  { op: 'POST /v1/workflows/{idOrName}/runs', action: 'run.create', call: (s) => s.request('POST', '/v1/workflows/audited/runs', { body: { input: { n: 1 } } }), target: (b) => b.id },
  { op: 'POST /v1/runs/{id}/nodes/{nodeId}/signal', action: 'run.signal', call: async (s, ids) => { await untilWaiting(s, ids['run.create']!); return s.request('POST', `/v1/runs/${ids['run.create']}/nodes/gate/signal`, { body: { payload: 1 } }); }, target: (_b, ids) => ids['run.create']! },
  { op: 'POST /v1/runs/{id}/cancel', action: 'run.cancel', call: async (s, ids) => { const r = await s.request('POST', '/v1/workflows/audited/runs'); ids.toCancel = r.body.id; return s.request('POST', `/v1/runs/${r.body.id}/cancel`); }, target: (_b, ids) => ids.toCancel! },
  { op: 'POST /v1/runs/{id}/retry', action: 'run.retry', call: (s, ids) => s.request('POST', `/v1/runs/${ids.toCancel}/retry`), target: (b) => b.id },
  { op: 'POST /v1/credentials', action: 'credential.create', call: (s) => s.request('POST', '/v1/credentials', { body: { name: 'audited', type: 'bearer', data: { token: 'audit-secret-token' } } }), target: (b) => b.id },
  { op: 'PUT /v1/credentials/{id}', action: 'credential.update', call: (s, ids) => s.request('PUT', `/v1/credentials/${ids['credential.create']}`, { body: { data: { token: 'audit-secret-token-2' } } }), target: (b) => b.id },
  { op: 'DELETE /v1/credentials/{id}', action: 'credential.delete', call: (s, ids) => s.request('DELETE', `/v1/credentials/${ids['credential.create']}`), target: (_b, ids) => ids['credential.create']! },
  { op: 'POST /v1/api-keys', action: 'api_key.create', call: (s) => s.request('POST', '/v1/api-keys', { body: { name: 'audited', role: 'viewer' } }), target: (b) => b.id },
  { op: 'DELETE /v1/api-keys/{id}', action: 'api_key.revoke', call: (s, ids) => s.request('DELETE', `/v1/api-keys/${ids['api_key.create']}`), target: (_b, ids) => ids['api_key.create']! },
  { op: 'POST /v1/workspaces', action: 'workspace.create', call: (s) => s.request('POST', '/v1/workspaces', { body: { name: 'audited-ws' } }), target: (b) => b.id },
  { op: 'POST /v1/schedules', action: 'schedule.create', call: (s) => s.request('POST', '/v1/schedules', { body: { workflow: 'audited', cron: '0 0 1 1 *' } }), target: (b) => b.id },
  { op: 'PATCH /v1/schedules/{id}', action: 'schedule.update', call: (s, ids) => s.request('PATCH', `/v1/schedules/${ids['schedule.create']}`, { body: { enabled: false } }), target: (_b, ids) => ids['schedule.create']! },
  { op: 'DELETE /v1/schedules/{id}', action: 'schedule.delete', call: (s, ids) => s.request('DELETE', `/v1/schedules/${ids['schedule.create']}`), target: (_b, ids) => ids['schedule.create']! },
  { op: 'POST /v1/workflows/import', action: 'workflow.import', call: (s) => s.request('POST', '/v1/workflows/import', { body: { format: 'n8n', name: 'audited-import', workflow: { nodes: [{ name: 'Noop', type: 'n8n-nodes-base.noOp', parameters: {} }], connections: {} } } }), target: (b) => b.workflow.id },
  { op: 'POST /v1/invitations', action: 'invitation.create', call: async (s, ids) => { const r = await s.request('POST', '/v1/invitations', { body: { email: 'audited@example.test', role: 'viewer' } }); ids.inviteLink = r.body.link; return r; }, target: (b) => b.id },
  { op: 'PATCH /v1/users/{id}', action: 'user.role', call: async (s, ids) => { ids.user = await acceptInvite(s, ids.inviteLink!); return s.request('PATCH', `/v1/users/${ids.user}`, { body: { role: 'editor' } }); }, target: (b) => b.id },
  { op: 'DELETE /v1/users/{id}', action: 'user.remove', call: (s, ids) => s.request('DELETE', `/v1/users/${ids.user}`), target: (_b, ids) => ids.user! },
  { op: 'DELETE /v1/me/sessions/{id}', action: 'session.revoke', call: async (s, ids) => { ids.session = await keySession(s); return s.request('DELETE', `/v1/me/sessions/${ids.session}`); }, target: (_b, ids) => ids.session! },
  { op: 'DELETE /v1/workflows/{idOrName}', action: 'workflow.archive', call: (s) => s.request('DELETE', '/v1/workflows/audited'), target: (_b, ids) => ids['workflow.create']! },
];

/** Accepts an invitation link as its person would; the new user's id. */
async function acceptInvite(s: TestStack, link: string): Promise<string> {
  const res = await s.app.request(`/ui/invite/${link.slice(link.lastIndexOf('/') + 1)}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Audited', password: 'a long enough password' }) });
  return ((await res.json()) as { userId: string }).userId;
}

/** A console session opened with the admin key; its id as GET /v1/me/sessions lists it. */
async function keySession(s: TestStack): Promise<string> {
  await s.app.request('/ui/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apiKey: s.adminKey }) });
  return (await s.request('GET', '/v1/me/sessions')).body.items[0].id;
}

/**
 * A person's own account (name, password, which workspace their session is in): a key cannot
 * call them, so the key-driven steps above cannot either. The password change is audited with
 * the person (apps/api/console/people-routes.test.ts); the others change nothing a workspace owns.
 */
const SELF_SERVICE = ['PATCH /v1/me', 'POST /v1/me/password', 'PUT /v1/me/workspace'];

async function untilWaiting(s: TestStack, runId: string) {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const run = await s.request('GET', `/v1/runs/${runId}`);
    if (run.body.nodes?.[0]?.status === 'waiting') return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`run ${runId} never reached its wait`);
}

describe('audit log', () => {
  let stack: TestStack;
  let adminKeyId: string;
  beforeAll(async () => {
    stack = await startStack();
    adminKeyId = (await stack.db.selectFrom('api_keys').select('id').where('name', '=', 'bootstrap').executeTakeFirstOrThrow()).id;
  });
  afterAll(() => stack.close());

  it('covers every mutating route of the route table', async () => {
    const spec = await stack.request('GET', '/openapi.json', { key: null });
    const mutating = Object.entries(spec.body.paths as Record<string, Record<string, unknown>>).flatMap(([path, ops]) =>
      Object.keys(ops).filter((m) => m !== 'get').map((m) => `${m.toUpperCase()} ${path}`),
    ).filter((op) => op.includes(' /v1/'));
    expect(mutating.filter((op) => !STEPS.some((s) => s.op === op) && !SELF_SERVICE.includes(op))).toEqual([]);
  });

  it('records each mutation with key, action, target and request id, newest first, in keyset pages', async () => {
    const ids: Record<string, string> = {};
    const requestIds: Record<string, string> = {};
    for (const [i, step] of STEPS.entries()) {
      const requestId = `audit-step-${i}`;
      const original = stack.request.bind(stack);
      // Tag the step's mutating call with its own request id.
      const tagged = { ...stack, request: (m: string, p: string, o: Parameters<TestStack['request']>[2] = {}) => original(m, p, { ...o, headers: { ...o.headers, 'x-request-id': requestId } }) } as TestStack;
      const res = await step.call(tagged, ids);
      expect(res.status, `${step.op}: ${JSON.stringify(res.body)}`).toBeLessThan(300);
      ids[step.action] = step.target?.(res.body, ids) ?? '';
      requestIds[step.action] = requestId;
    }
    await waitForRun(stack, ids['run.create']!);

    const entries: any[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: { status: number; body: any } = await stack.request('GET', `/v1/audit-log?limit=4${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      entries.push(...res.body.items);
      cursor = res.body.nextCursor;
      pages++;
    } while (cursor && pages < 50);
    expect(pages).toBeGreaterThan(3);
    const numericIds = entries.map((e) => Number(e.id));
    expect(numericIds).toEqual([...numericIds].sort((x, y) => y - x));
    expect(new Set(numericIds).size).toBe(numericIds.length);

    for (const step of STEPS) {
      const entry = entries.find((e) => e.action === step.action && e.requestId === requestIds[step.action]);
      expect(entry, `${step.action} audited`).toMatchObject({ keyId: adminKeyId, targetId: ids[step.action], createdAt: expect.any(String) });
    }
    expect(JSON.stringify(entries)).not.toContain('audit-secret-token');
  });

  it('is for admins only, and refuses garbage cursors', async () => {
    for (const role of ['viewer', 'editor']) {
      const key = (await stack.request('POST', '/v1/api-keys', { body: { name: role, role } })).body.secret;
      expect((await stack.request('GET', '/v1/audit-log', { key })).status).toBe(403);
    }
    for (const cursor of ['abc', '-1', '0', '1e3', '9'.repeat(20)]) expect((await stack.request('GET', `/v1/audit-log?cursor=${cursor}`)).status).toBe(400);
  });
});
