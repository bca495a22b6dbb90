import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../../../test/stack.js';

/** A small n8n export: a POST webhook, a daily schedule, an IF on the body, two branches. */
const n8nExport = (path = 'n8n-orders', extraNodes: object[] = [], extraLinks: Record<string, unknown> = {}) => ({
  name: 'Orders from n8n',
  nodes: [
    { name: 'Webhook', type: 'n8n-nodes-base.webhook', typeVersion: 2, position: [0, 0], parameters: { path, httpMethod: 'POST' } },
    { name: 'Daily', type: 'n8n-nodes-base.scheduleTrigger', typeVersion: 1.2, position: [0, 200], parameters: { rule: { interval: [{ triggerAtHour: 6 }] } } },
    { name: 'Big?', type: 'n8n-nodes-base.if', typeVersion: 2, position: [200, 0], parameters: { conditions: { combinator: 'and', conditions: [{ leftValue: '={{ $json.body.total }}', rightValue: 100, operator: { type: 'number', operation: 'gt' } }] } } },
    { name: 'Big', type: 'n8n-nodes-base.noOp', typeVersion: 1, position: [400, 0], parameters: {} },
    { name: 'Small', type: 'n8n-nodes-base.noOp', typeVersion: 1, position: [400, 200], parameters: {} },
    ...extraNodes,
  ],
  connections: {
    Webhook: { main: [[{ node: 'Big?', type: 'main', index: 0 }]] },
    Daily: { main: [[{ node: 'Big?', type: 'main', index: 0 }]] },
    'Big?': { main: [[{ node: 'Big', type: 'main', index: 0 }], [{ node: 'Small', type: 'main', index: 0 }]] },
    ...extraLinks,
  },
  settings: { timezone: 'Europe/Paris', executionOrder: 'v1' },
});

describe('POST /v1/workflows/import', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack({ workers: false });
  });
  afterAll(() => stack.close());

  const imp = (body: Record<string, unknown>, key?: string) => stack.request('POST', '/v1/workflows/import', { body: { format: 'n8n', ...body }, ...(key ? { key } : {}) });
  const exists = async (name: string) => (await stack.request('GET', `/v1/workflows/${name}`)).status === 200;

  it('creates the workflow (201) with its webhook and schedule, audited; the same name again is a new version (200)', async () => {
    const created = await imp({ workflow: n8nExport() });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.workflow).toMatchObject({ name: 'orders-from-n8n', version: 1, webhook: { path: 'n8n-orders' } });
    expect(created.body.definition.nodes.map((n: { id: string }) => n.id)).toEqual(['big', 'big_2', 'small']);
    expect(created.body.report.schedules).toEqual([{ n8nNode: 'Daily', cron: '0 6 * * *', timezone: 'Europe/Paris' }]);
    const schedules = await stack.request('GET', '/v1/schedules?workflow=orders-from-n8n');
    expect(schedules.body.items).toMatchObject([{ cron: '0 6 * * *', timezone: 'Europe/Paris', enabled: true }]);
    const audit = await stack.request('GET', '/v1/audit-log');
    expect(audit.body.items.map((e: { action: string }) => e.action)).toEqual(expect.arrayContaining(['workflow.import', 'schedule.create']));
    expect(audit.body.items.find((e: { action: string }) => e.action === 'workflow.import')).toMatchObject({ targetId: created.body.workflow.id, details: { format: 'n8n', version: 1, created: true } });

    const again = await imp({ workflow: n8nExport() });
    expect(again.status).toBe(200);
    expect(again.body.workflow).toMatchObject({ name: 'orders-from-n8n', version: 2 });
    expect((await stack.request('GET', '/v1/schedules?workflow=orders-from-n8n')).body.items).toHaveLength(1);
  });

  it('dryRun answers {definition, report} and creates nothing', async () => {
    const res = await imp({ workflow: n8nExport('dry-path'), name: 'dry-one', dryRun: true });
    expect(res.status).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(['definition', 'report']);
    expect(res.body.definition.name).toBe('dry-one');
    expect(await exists('dry-one')).toBe(false);
  });

  it('refuses unconvertible parts with 422 listing each against its n8n node; allowPartial imports placeholders', async () => {
    const code = { name: 'Code', type: 'n8n-nodes-base.code', typeVersion: 2, position: [600, 0], parameters: { jsCode: 'return items' } };
    const body = { workflow: n8nExport('partial-path', [code], { Big: { main: [[{ node: 'Code', type: 'main', index: 0 }]] } }), name: 'partial' };
    const refused = await imp(body);
    expect(refused.status).toBe(422);
    expect(refused.body.error).toMatchObject({ code: 'unconvertible', details: [{ pointer: '/nodes/Code', message: expect.stringContaining("node 'Code'") }] });
    expect(await exists('partial')).toBe(false);

    const partial = await imp({ ...body, allowPartial: true });
    expect(partial.status).toBe(201);
    expect(partial.body.report.nodes.find((n: { n8nName: string }) => n.n8nName === 'Code')).toMatchObject({ outcome: 'placeholder', type: 'noop' });
  });

  it('converts the same export to the same definition each time, and keeps schedules within the workspace minimum interval', async () => {
    const first = await imp({ workflow: n8nExport('same-path'), name: 'same', dryRun: true });
    const second = await imp({ workflow: n8nExport('same-path'), name: 'same', dryRun: true });
    expect(second.body).toEqual(first.body);
    const everySecond = { ...n8nExport('fast-path'), nodes: n8nExport('fast-path').nodes.map((n: any) => (n.name === 'Daily' ? { ...n, parameters: { rule: { interval: [{ field: 'seconds', secondsInterval: 1 }] } } } : n)) };
    await stack.db.updateTable('workspaces').set({ settings: JSON.stringify({ scheduleMinIntervalSeconds: 60 }) }).execute();
    try {
      const refused = await imp({ workflow: everySecond, name: 'fast' });
      expect(refused.status).toBe(422);
      expect(refused.body.error.details).toEqual([{ pointer: '/nodes/Daily', message: expect.stringContaining('scheduleMinIntervalSeconds') }]);
      const partial = await imp({ workflow: everySecond, name: 'fast', allowPartial: true });
      expect(partial.status).toBe(201);
      expect(partial.body.report.schedules).toEqual([]);
      expect((await stack.request('GET', '/v1/schedules?workflow=fast')).body.items).toEqual([]);
    } finally {
      await stack.db.updateTable('workspaces').set({ settings: JSON.stringify({}) }).execute();
    }
  });

  it('answers 409 naming a webhook path another workflow has, creating nothing', async () => {
    const other = await stack.request('POST', '/v1/workflows', { body: { name: 'holder', nodes: [{ id: 'a', type: 'noop' }], webhook: { path: 'taken-path' } } });
    expect(other.status).toBe(201);
    const res = await imp({ workflow: n8nExport('taken-path'), name: 'wants-path' });
    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({ code: 'webhook_path_taken', message: expect.stringContaining("'taken-path'") });
    expect(await exists('wants-path')).toBe(false);
    const dry = await imp({ workflow: n8nExport('taken-path'), name: 'wants-path', dryRun: true });
    expect(dry.status).toBe(200);
    expect(dry.body.report.warnings).toContainEqual(expect.stringMatching(/'taken-path' is already used by the workflow 'holder'.*would answer 409/));
  });

  it.each([
    ['not an n8n export', { workflow: { hello: 'world' } }, 'not_n8n_export'],
    ['no workflow', {}, 'validation_failed'],
    ['another format', { format: 'zapier', workflow: n8nExport() }, 'validation_failed'],
    ['duplicate node names', { workflow: { nodes: [{ name: 'A', type: 'n8n-nodes-base.noOp' }, { name: 'A', type: 'n8n-nodes-base.noOp' }], connections: {} } }, 'duplicate_node_names'],
    ['a cycle', { workflow: { nodes: [{ name: 'A', type: 'n8n-nodes-base.noOp' }, { name: 'B', type: 'n8n-nodes-base.noOp' }], connections: { A: { main: [[{ node: 'B', type: 'main', index: 0 }]] }, B: { main: [[{ node: 'A', type: 'main', index: 0 }]] } } } }, 'cycle'],
  ])('400 for %s, naming the problem, nothing created', async (_label, body, code) => {
    const before = (await stack.request('GET', '/v1/workflows')).body.items.length;
    const res = await imp({ name: 'bad-input', ...body });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code, message: expect.any(String) });
    expect((await stack.request('GET', '/v1/workflows')).body.items.length).toBe(before);
  });

  it('413 for a 10 MB body, nothing created', async () => {
    const huge = n8nExport('huge-path', [{ name: 'Pad', type: 'n8n-nodes-base.noOp', position: [0, 0], parameters: { pad: 'x'.repeat(10 * 1024 * 1024) } }]);
    const res = await imp({ workflow: huge, name: 'huge' });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('payload_too_large');
    expect(await exists('huge')).toBe(false);
  });

  it('is for editors: a viewer gets 403', async () => {
    const viewer = await stack.request('POST', '/v1/api-keys', { body: { name: 'v', role: 'viewer' } });
    const res = await imp({ workflow: n8nExport('viewer-path'), name: 'by-viewer' }, viewer.body.secret);
    expect(res.status).toBe(403);
    expect(await exists('by-viewer')).toBe(false);
  });
});
