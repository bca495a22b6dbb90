import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertN8n } from '../lib/import/n8n/convert.js';
import type { ImportReport } from '../lib/import/n8n/types.js';
import type { WorkflowDefinition } from '../lib/workflows/definition.js';
import { runToCompletion, startStack, type TestStack } from './stack.js';
import { startTargetServer, type TargetServer } from './target-server.js';

/**
 * n8n exports (test/fixtures/n8n: written by hand in n8n's export format, see its README)
 * converted and run. Each branch test states, per test item, which branch nodes n8n would run
 * (from the documented semantics of the node's conditions) and checks that exactly those run
 * here. Items come in as the run's input, or, where the export has a Code node (a placeholder
 * with allowPartial), as the placeholder's output.
 */
const fixtureText = (name: string) => readFileSync(new URL(`./fixtures/n8n/${name}.json`, import.meta.url), 'utf8');
const fixture = (name: string) => JSON.parse(fixtureText(name));
type Item = Record<string, any>;
/** n8n node name → whether an item reaches it. */
type Expected = Record<string, (item: Item) => boolean>;

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

  /**
   * Runs `definition` once per item and checks every branch node: it runs exactly when
   * `expected` says the item reaches it. The item is the run's input, or the output of the
   * placeholder `feed` (a Code node's id) when given.
   */
  async function checkBranches(definition: WorkflowDefinition, report: ImportReport, expected: Expected, items: Item[], feed?: string) {
    const branchNodes = noOps(report);
    expect(Object.keys(branchNodes).sort()).toEqual(Object.keys(expected).sort());
    expect(items.length).toBeGreaterThan(1);
    // Each branch node is reached by some item (one never reached would only be checked as skipped).
    expect(Object.keys(branchNodes).filter((n) => !items.some(expected[n]!))).toEqual([]);
    for (const [i, item] of items.entries()) {
      const def = structuredClone(definition);
      def.name = `${definition.name}-${i}`;
      if (feed) def.nodes.find((n) => n.id === feed)!.params = item;
      const run = await runToCompletion(stack, def, feed ? undefined : item);
      expect(run.status).toBe('succeeded');
      for (const [n8nName, id] of Object.entries(branchNodes)) {
        const reached = expected[n8nName]!(item);
        expect({ item, node: n8nName, status: run.nodes.find((n: { id: string }) => n.id === id).status }).toEqual({ item, node: n8nName, status: reached ? 'succeeded' : 'skipped' });
      }
    }
  }

  it('IF v2 (number filter, "or", a number and a numeric-string right value) after a Set node: imports as it is, each item takes its branch', async () => {
    const wf = fixture('orders-if-v2');
    const { definition, report, problems } = convert(wf);
    expect(problems).toEqual([]);
    expect(report.nodes.map((n) => [n.n8nName, n.outcome])).toEqual([['Start triage', 'trigger'], ['Read order', 'converted'], ['Single or bulk?', 'converted'], ['Special handling', 'converted'], ['Standard packing', 'converted']]);
    // n8n: true when quantity = 1 or quantity > 25 (strictly greater).
    const special = (i: Item) => i.qty === 1 || i.qty > 25;
    await checkBranches(definition, report, { 'Special handling': special, 'Standard packing': (i) => !special(i) }, [
      { sku: 'LAMP-04', qty: 1 },
      { sku: 'DESK-11', qty: 7 },
      { sku: 'CHAIR-2', qty: 25 },
      { sku: 'PEN-99', qty: 40 },
    ]);
  });

  it('Switch v3 (rules with renamed outputs, unknown values falling back to output 0): each item reaches the node n8n sends it to', async () => {
    const wf = fixture('route-switch-v3');
    const { definition, report, problems } = convert(wf);
    expect(problems).toEqual([]);
    expect(noOps(report)).toEqual({ 'Queue email': 'queue_email', 'Queue SMS': 'queue_sms', 'Queue push': 'queue_push' });
    // n8n: the first rule that matches (strict, case-sensitive equals), else the fallback output 0.
    const known = ['email', 'sms', 'push'];
    await checkBranches(definition, report, {
      'Queue email': (i) => i.channel === 'email' || !known.includes(i.channel),
      'Queue SMS': (i) => i.channel === 'sms',
      'Queue push': (i) => i.channel === 'push',
    }, [{ channel: 'push', to: 'dev-1' }, { channel: 'fax', to: '555' }, { channel: 'email', to: 'a@example.test' }, { channel: 'sms', to: '+100' }, { channel: 'SMS', to: '+200' }]);
  });

  it('IF v1 (every number comparison, "any", and the defaults n8n leaves out): refused without allowPartial for its Code node; each branch node runs exactly when n8n runs it', async () => {
    const wf = fixture('alerts-if-v1');
    expect(convert(wf).problems).toEqual([{ pointer: '/nodes/Sample readings', message: expect.stringContaining('n8n-nodes-base.code') }]);
    const { definition, report } = convert(wf, { allowPartial: true });
    expect(report.nodes.filter((n) => n.outcome === 'placeholder').map((n) => [n.n8nName, n.nodeId])).toEqual([['Sample readings', 'sample_readings']]);
    expect(report.nodes.filter((n) => n.n8nType === 'n8n-nodes-base.if').every((n) => n.outcome === 'converted')).toBe(true);
    // n8n IF v1: a comparison without `operation` is "smaller", without `value2` compares with 0;
    // combineOperation "any" is an or; isEmpty/isNotEmpty test for undefined, null or "".
    const r = (i: Item) => i.reading as number;
    const expected: Expected = {
      'Under 50: yes': (i) => r(i) < 50,
      'Under 50: no': (i) => !(r(i) < 50),
      'Up to 50: yes': (i) => r(i) <= 50,
      'Exactly 50: yes': (i) => r(i) === 50,
      'Exactly 50: no': (i) => r(i) !== 50,
      'Not 50: yes': (i) => r(i) !== 50,
      'Over 50: yes': (i) => r(i) > 50,
      'Over 50: no': (i) => !(r(i) > 50),
      'From 50: no': (i) => !(r(i) >= 50),
      'Below zero: yes': (i) => r(i) < 0,
      'Below zero: no': (i) => !(r(i) < 0),
      'Out of band: yes': (i) => r(i) < 10 || r(i) > 90,
      'Out of band: no': (i) => !(r(i) < 10 || r(i) > 90),
      'Reading missing: no': () => true,
      'Reading present: yes': () => true,
    };
    // The items its Code node returns.
    await checkBranches(definition, report, expected, [50, 7, 93, -3].map((reading) => ({ reading, sensor: 'boiler' })), 'sample_readings');
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

  it('HTTP Request v3 (key-value, JSON and raw bodies): sends what n8n sends, here to a local target', async () => {
    const wf = JSON.parse(fixtureText('post-http-v3').replaceAll('https://inventory.example.test', target.url));
    const { definition, problems, report } = convert(wf);
    expect(problems).toEqual([]);
    expect(report.nodes.map((n) => n.outcome)).toEqual(['trigger', 'converted', 'converted', 'converted']);
    expect(report.warnings).toContain('pinned data (pinData) is test data in n8n and is not imported');
    expect(definition.nodes.map((n) => [n.id, n.type, n.params.method])).toEqual([['reserve_item', 'http.request', 'POST'], ['record_shipment', 'http.request', 'POST'], ['upload_stock_sheet', 'http.request', 'POST']]);
    for (const path of ['/reservations', '/shipments', '/stock.csv']) {
      target.route('POST', path, (req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ got: req.body }));
      });
    }
    const run = await runToCompletion(stack, definition);
    expect(run.status).toBe('succeeded');
    const sent = (path: string) => target.requests.find((r) => r.path === path)!;
    // n8n sends key-value pairs as a JSON object: literal values as strings, expressions with their type.
    expect(JSON.parse(sent('/reservations').body)).toEqual({ sku: 'LAMP-04', quantity: '2', giftWrap: true });
    expect(sent('/reservations').headers['content-type']).toBe('application/json');
    expect(JSON.parse(sent('/shipments').body)).toEqual({ carrier: 'parcel-co', boxes: [{ weight: 1.5 }, { weight: 0.25 }], insured: false });
    expect(sent('/shipments').headers['content-type']).toBe('application/json');
    // A raw body goes as it is, with its content type.
    expect(sent('/stock.csv').body).toBe('sku,count\nLAMP-04,17\nDESK-11,3');
    expect(sent('/stock.csv').headers['content-type']).toMatch(/^text\/csv/);
    expect(run.output.reserve_item.body).toEqual({ got: sent('/reservations').body });
  });

  describe('a template-like export: customer lookup, IF, Slack message or NoOp', () => {
    const slackPosts = () => target.requests.filter((r) => r.path === '/slack/chat.postMessage').map((r) => JSON.parse(r.body));
    const customers: Record<string, Item> = {
      gold: { name: 'Ada', tier: 'gold', lifetimeSpend: 120 },
      big: { name: 'Bob', tier: 'silver', lifetimeSpend: 5000 },
      small: { name: 'Cy', tier: 'silver', lifetimeSpend: 4999.5 },
    };
    beforeAll(async () => {
      const created = await stack.request('POST', '/v1/credentials', { body: { name: 'sales-slack', type: 'slack', data: { botToken: 'xoxb-fixture', baseUrl: `${target.url}/slack` } } });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      target.route('POST', '/slack/chat.postMessage', (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ok: true, channel: 'C0VIP', ts: '1765100000.000100' }));
      });
      for (const [id, customer] of Object.entries(customers)) {
        target.route('GET', `/customers/${id}`, (_req, res) => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(customer));
        });
      }
    });
    const load = (name: string) => JSON.parse(fixtureText(name).replaceAll('https://crm.example.test', target.url));

    it('webhook variant: imported through the API, each call from POST /hooks/order-placed posts to Slack only for a VIP', async () => {
      const imported = await stack.request('POST', '/v1/workflows/import', { body: { format: 'n8n', workflow: load('vip-order-webhook') } });
      expect(imported.status, JSON.stringify(imported.body)).toBe(201);
      const { definition, report } = imported.body;
      expect(report.webhook).toMatchObject({ path: 'order-placed', n8nNode: 'Order placed', n8nMethod: 'POST' });
      expect(report.credentials).toEqual([expect.objectContaining({ n8nName: 'Sales Slack', n8nType: 'slackApi', conveyorType: 'slack', conveyorName: 'sales-slack', usedBy: ['Tell sales'] })]);
      expect(definition.nodes.map((n: { id: string; type: string }) => [n.id, n.type])).toEqual([['look_up_customer', 'http.request'], ['vip', 'transform'], ['tell_sales', 'slack.message'], ['not_a_vip', 'noop']]);

      const before = slackPosts().length;
      const call = async (body: unknown) => {
        const res = await stack.app.request('/hooks/order-placed?wait=true', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
        expect(res.status).toBe(200);
        const { runId } = (await res.json()) as { runId: string };
        const run = (await stack.request('GET', `/v1/runs/${runId}`)).body;
        expect(run.status).toBe('succeeded');
        return Object.fromEntries(run.nodes.map((n: { id: string; status: string }) => [n.id, n.status]));
      };
      // n8n IF v2.2, "or": tier equals "gold" (case-sensitive), or lifetimeSpend >= 5000.
      expect(await call({ orderId: 'SO-1', customerId: 'gold' })).toEqual({ look_up_customer: 'succeeded', vip: 'succeeded', tell_sales: 'succeeded', not_a_vip: 'skipped' });
      expect(await call({ orderId: 'SO-2', customerId: 'big' })).toEqual({ look_up_customer: 'succeeded', vip: 'succeeded', tell_sales: 'succeeded', not_a_vip: 'skipped' });
      expect(await call({ orderId: 'SO-3', customerId: 'small' })).toEqual({ look_up_customer: 'succeeded', vip: 'succeeded', tell_sales: 'skipped', not_a_vip: 'succeeded' });
      expect(slackPosts().slice(before)).toEqual([
        expect.objectContaining({ channel: '#sales-vip', text: ':star: Ada (gold) just placed order SO-1' }),
        expect.objectContaining({ channel: '#sales-vip', text: ':star: Bob (silver) just placed order SO-2' }),
      ]);
    });

    it('schedule variant: becomes a daily 08:30 schedule and runs the same branches', async () => {
      const { definition, report, problems } = convert(load('vip-order-schedule'));
      expect(problems).toEqual([]);
      expect(report.schedules).toEqual([{ n8nNode: 'Every morning', cron: '30 8 * * *', timezone: 'UTC' }]);
      expect(report.webhook).toBeNull();
      target.route('GET', '/customers/top', (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(customers.gold));
      });
      const before = slackPosts().length;
      const run = await runToCompletion(stack, definition);
      expect(run.status).toBe('succeeded');
      expect(Object.fromEntries(run.nodes.map((n: { id: string; status: string }) => [n.id, n.status]))).toEqual({ look_up_customer: 'succeeded', vip: 'succeeded', tell_sales: 'succeeded', not_a_vip: 'skipped' });
      expect(slackPosts().slice(before)).toEqual([expect.objectContaining({ channel: '#sales-vip', text: ':sunrise: Say good morning to Ada (gold)' })]);
      target.route('GET', '/customers/top', (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(customers.small));
      });
      const quiet = await runToCompletion(stack, { ...definition, name: `${definition.name}-quiet` });
      expect(Object.fromEntries(quiet.nodes.map((n: { id: string; status: string }) => [n.id, n.status]))).toMatchObject({ tell_sales: 'skipped', not_a_vip: 'succeeded' });
      expect(slackPosts()).toHaveLength(before + 1);
    });
  });
});
