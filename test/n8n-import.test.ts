import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertN8n } from '../lib/import/n8n/convert.js';
import type { ImportReport } from '../lib/import/n8n/types.js';
import type { WorkflowDefinition } from '../lib/workflows/definition.js';
import { runToCompletion, startStack, type TestStack } from './stack.js';
import { startTargetServer, type TargetServer } from './target-server.js';

/**
 * Real n8n exports (test/fixtures/n8n, sources in its README) converted and run. The IF and
 * Switch fixtures feed their branches from n8n's test-only data node: it imports as a placeholder,
 * and each run puts one of its test items in the placeholder's place; which branch nodes run must
 * match the fixture's pinData (n8n's own recorded result).
 */
const fixture = (name: string) => JSON.parse(readFileSync(new URL(`./fixtures/n8n/${name}.json`, import.meta.url), 'utf8'));
type Item = Record<string, unknown>;
const pinned = (wf: any, node: string): Item[] => (wf.pinData?.[node] ?? []).map((i: { json: Item }) => i.json);

describe('importing n8n fixtures', () => {
  let stack: TestStack;
  let target: TargetServer;
  beforeAll(async () => {
    target = await startTargetServer();
    stack = await startStack({ env: { HTTP_ALLOW_HOSTS: '127.0.0.1' } });
  });
  afterAll(async () => {
    await stack.close();
    await target.close();
  });

  const convert = (wf: unknown, opts: { allowPartial?: boolean } = {}) => {
    const r = convertN8n(wf, { registry: stack.engine.registry, ...opts });
    if (!r.ok) throw new Error(r.message);
    return r;
  };

  /** The NoOp nodes the branches lead to: n8n name → Conveyor id. */
  const noOps = (report: ImportReport) => Object.fromEntries(report.nodes.filter((n) => n.n8nType === 'n8n-nodes-base.noOp').map((n) => [n.n8nName, n.nodeId!]));

  /** Runs `definition` once per test item of its data node and checks each branch node against pinData. */
  async function checkBranches(wf: any, definition: WorkflowDefinition, branchNodes: Record<string, string>, items: Item[] = wf.nodes.find((n: { name: string }) => n.name === 'Code').parameters.data) {
    expect(Object.keys(branchNodes).length).toBeGreaterThan(1);
    expect(items.length).toBeGreaterThan(1);
    for (const [i, item] of items.entries()) {
      const def = structuredClone(definition);
      def.name = `${definition.name}-${i}`;
      def.nodes.find((n) => n.id === 'code')!.params = item;
      const run = await runToCompletion(stack, def);
      expect(run.status).toBe('succeeded');
      for (const [n8nName, id] of Object.entries(branchNodes)) {
        const expected = pinned(wf, n8nName).some((p) => JSON.stringify(p) === JSON.stringify(item)) ? 'succeeded' : 'skipped';
        expect({ item, node: n8nName, status: run.nodes.find((n: { id: string }) => n.id === id).status }).toEqual({ item, node: n8nName, status: expected });
      }
    }
  }

  it('IF v2 (number filter, "or"): refused without allowPartial, and each item takes the branch n8n took', async () => {
    const wf = fixture('if-v2-number');
    expect(convert(wf).problems).toEqual([{ pointer: '/nodes/Code', message: expect.stringContaining('n8n-nodes-testing.testData') }]);
    const { definition, report } = convert(wf, { allowPartial: true });
    expect(report.nodes.map((n) => [n.n8nName, n.outcome])).toEqual([['When clicking "Execute Workflow"', 'trigger'], ['Code', 'placeholder'], ['If', 'converted'], ['Then', 'converted'], ['Else', 'converted']]);
    await checkBranches(wf, definition, noOps(report));
  });

  it('Switch v3 (rules with renamed outputs and a fallback output): each item reaches the node n8n sent it to', async () => {
    const wf = fixture('switch-v3-rules');
    const { definition, report } = convert(wf, { allowPartial: true });
    expect(noOps(report)).toEqual({ 'No Operation, do nothing': 'no_operation_do_nothing', 'No Operation, do nothing1': 'no_operation_do_nothing1', 'No Operation, do nothing2': 'no_operation_do_nothing2' });
    await checkBranches(wf, definition, noOps(report));
  });

  it('IF v1 (every number comparison, with the defaults n8n leaves out): each of the twelve branch nodes runs exactly when n8n ran it', async () => {
    const wf = fixture('if-v1-number');
    const { definition, report } = convert(wf, { allowPartial: true });
    expect(report.nodes.filter((n) => n.outcome === 'placeholder').map((n) => n.n8nName)).toEqual(['Code']);
    expect(Object.keys(noOps(report))).toHaveLength(12);
    // The items its Code node returns: `return [{ value: 1 }, { value: 2 }];`
    await checkBranches(wf, definition, noOps(report), [{ value: 1 }, { value: 2 }]);
  });

  it('a webhook export imported through the API runs from POST /hooks/<path>: IF, HTTP with a JSON body, Set, a mixed join', async () => {
    const link = (node: string, index = 0) => ({ node, type: 'main', index });
    const wf = {
      name: 'Paid orders',
      nodes: [
        { name: 'Webhook', type: 'n8n-nodes-base.webhook', typeVersion: 2, position: [0, 0], parameters: { path: 'n8n-e2e', httpMethod: 'POST', responseMode: 'lastNode' } },
        { name: 'Paid?', type: 'n8n-nodes-base.if', typeVersion: 2.2, position: [200, 0], parameters: { conditions: { combinator: 'and', conditions: [{ leftValue: '={{ $json.body.paid }}', rightValue: '', operator: { type: 'boolean', operation: 'true', singleValue: true } }] } } },
        { name: 'Notify', type: 'n8n-nodes-base.httpRequest', typeVersion: 4.2, position: [400, 0], parameters: { method: 'POST', url: `${target.url}/notify`, sendBody: true, specifyBody: 'json', jsonBody: '={ "order": {{ $json.body.id }}, "who": "{{ $json.body.customer }}" }' } },
        { name: 'Skip', type: 'n8n-nodes-base.set', typeVersion: 3.4, position: [400, 200], parameters: { includeOtherFields: true, assignments: { assignments: [{ id: '1', name: 'reason', value: 'unpaid', type: 'string' }] } } },
        { name: 'Audit', type: 'n8n-nodes-base.set', typeVersion: 3.4, position: [600, 100], parameters: { assignments: { assignments: [{ id: '1', name: 'order', value: "={{ $('Webhook').item.json.body.id }}", type: 'number' }] } } },
      ],
      connections: { Webhook: { main: [[link('Paid?')]] }, 'Paid?': { main: [[link('Notify'), link('Audit')], [link('Skip')]] }, Skip: { main: [[link('Audit')]] } },
    };
    target.route('POST', '/notify', (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ received: JSON.parse(req.body) }));
    });
    const imported = await stack.request('POST', '/v1/workflows/import', { body: { format: 'n8n', workflow: wf } });
    expect(imported.status, JSON.stringify(imported.body)).toBe(201);
    expect(imported.body.definition.nodes.find((n: { id: string }) => n.id === 'audit').when).toBe('{{ nodes.paid.output.branch = 0 or nodes.skip.status = "succeeded" }}');

    const call = async (body: unknown) => {
      const res = await stack.app.request('/hooks/n8n-e2e?wait=true', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      expect(res.status).toBe(200);
      const { runId } = (await res.json()) as { runId: string };
      const run = (await stack.request('GET', `/v1/runs/${runId}`)).body;
      return { run, status: Object.fromEntries(run.nodes.map((n: { id: string; status: string }) => [n.id, n.status])) };
    };
    const paid = await call({ id: 7, paid: true, customer: 'Ada' });
    expect(paid.status).toEqual({ paid: 'succeeded', notify: 'succeeded', skip: 'skipped', audit: 'succeeded' });
    expect(paid.run.output).toMatchObject({ notify: { status: 200, body: { received: { order: 7, who: 'Ada' } } }, audit: { order: 7 } });

    const unpaid = await call({ id: 8, paid: false, customer: 'Bob' });
    expect(unpaid.status).toEqual({ paid: 'succeeded', notify: 'skipped', skip: 'succeeded', audit: 'succeeded' });
    expect(unpaid.run.nodes.find((n: { id: string }) => n.id === 'skip').output).toMatchObject({ body: { id: 8, paid: false }, reason: 'unpaid' });
    expect(target.requests.filter((r) => r.path === '/notify')).toHaveLength(1);
  });

  it('HTTP Request v3 (key-value and JSON bodies): sends what n8n sent, here to a local target', async () => {
    const wf = fixture('http-request-v3-post');
    const { definition, problems, report } = convert(wf);
    expect(problems).toEqual([]);
    expect(report.nodes.map((n) => n.outcome)).toEqual(['trigger', 'converted', 'converted']);
    expect(definition.nodes.map((n) => [n.id, n.type, n.params.method])).toEqual([['http_request', 'http.request', 'POST'], ['http_request1', 'http.request', 'POST']]);
    for (const path of ['/todos/add', '/todos/add2']) {
      target.route('POST', path, (req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ id: 151, ...JSON.parse(req.body) }));
      });
    }
    const local = structuredClone(definition);
    for (const n of local.nodes) n.params.url = String(n.params.url).replace('https://dummyjson.com', target.url);
    const run = await runToCompletion(stack, local);
    expect(run.status).toBe('succeeded');
    // The bodies n8n sent, as its pinned (echoed) responses show them.
    expect(run.output.http_request.body).toEqual(pinned(wf, 'HTTP Request')[0]);
    expect(run.output.http_request1.body).toEqual(pinned(wf, 'HTTP Request1')[0]);
    expect(target.requests.filter((r) => r.path.startsWith('/todos')).map((r) => r.headers['content-type'])).toEqual(['application/json', 'application/json']);
  });
});
