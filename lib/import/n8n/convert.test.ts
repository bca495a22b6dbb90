import fc from 'fast-check';
import jsonata from 'jsonata';
import { describe, expect, it } from 'vitest';
import { createRegistry } from '../../providers/registry.js';
import { validateWorkflow } from '../../workflows/validate.js';
import { convertN8n, type ConvertOptions } from './convert.js';

type Node = { name: string; type: string; typeVersion?: number; parameters?: Record<string, unknown>; credentials?: Record<string, { id: string; name: string }>; [k: string]: unknown };
const registry = createRegistry();

/** An n8n export: nodes, and `links` [from, to, output?, input?] as `main` connections. */
function n8n(nodes: Node[], links: [string, string, number?, number?][] = [], extra: Record<string, unknown> = {}) {
  const connections: Record<string, { main: { node: string; type: string; index: number }[][] }> = {};
  for (const [from, to, output = 0, input = 0] of links) {
    const main = (connections[from] ??= { main: [] }).main;
    while (main.length <= output) main.push([]);
    main[output]!.push({ node: to, type: 'main', index: input });
  }
  return { name: 'Test flow', nodes: nodes.map((n, i) => ({ typeVersion: 1, parameters: {}, position: [i * 200, 0], id: `n${i}`, ...n })), connections, ...extra };
}
const hook = (path = 'orders', method?: string): Node => ({ name: 'Webhook', type: 'n8n-nodes-base.webhook', typeVersion: 2, parameters: { path, ...(method ? { httpMethod: method } : {}) } });
const manual: Node = { name: 'Start', type: 'n8n-nodes-base.manualTrigger' };
const noop = (name: string): Node => ({ name, type: 'n8n-nodes-base.noOp' });

function ok(input: unknown, opts: ConvertOptions = {}) {
  const r = convertN8n(input, { registry, ...opts });
  if (!r.ok) throw new Error(`bad input: ${r.message}`);
  expect(r.problems).toEqual([]);
  expect(validateWorkflow(r.definition, registry)).toMatchObject({ ok: true });
  return r;
}
const node = (r: ReturnType<typeof ok>, id: string) => r.definition.nodes.find((n) => n.id === id)!;
const evaluate = (expr: string, scope: unknown) => jsonata(expr.replace(/^\{\{|\}\}$/g, '')).evaluate(scope);

describe('n8n import: triggers', () => {
  it('a POST Webhook becomes the webhook; $json after it is the run input', () => {
    const r = ok(n8n([hook('Orders In', 'POST'), { name: 'Echo', type: 'n8n-nodes-base.set', typeVersion: 3.4, parameters: { assignments: { assignments: [{ name: 'id', value: '={{ $json.body.id }}', type: 'string' }] } } }], [['Webhook', 'Echo']]));
    expect(r.definition.webhook).toEqual({ path: 'orders-in' });
    expect(node(r, 'echo').params).toEqual({ value: { id: '{{ $string(input.body.id) }}' } });
    expect(r.definition.edges).toEqual([]);
    expect(r.report.nodes[0]).toMatchObject({ n8nName: 'Webhook', outcome: 'trigger' });
    expect(r.report.warnings.join()).not.toMatch(/listened for/);
  });

  it('lists a GET webhook in the warnings (Conveyor webhooks take POST)', () => {
    const r = ok(n8n([hook('x'), noop('A')], [['Webhook', 'A']]));
    expect(r.report.webhook).toEqual({ path: 'x', n8nNode: 'Webhook', n8nMethod: 'GET' });
    expect(r.report.warnings).toContainEqual(expect.stringMatching(/listened for GET/));
  });

  it('turns schedule rules into cron in the workflow time zone, and the legacy Cron node too', () => {
    const r = ok(n8n([
      { name: 'Every', type: 'n8n-nodes-base.scheduleTrigger', typeVersion: 1.2, parameters: { rule: { interval: [{ field: 'minutes', minutesInterval: 15 }, { field: 'hours', hoursInterval: 2, triggerAtMinute: 5 }, { triggerAtHour: 9 }, { field: 'weeks', triggerAtDay: [1, 5], triggerAtHour: 8 }, { field: 'months', monthsInterval: 3, triggerAtDayOfMonth: 15 }, { field: 'cronExpression', expression: '0 */6 * * *' }] } } },
      { name: 'Cron', type: 'n8n-nodes-base.cron', parameters: { triggerTimes: { item: [{ mode: 'everyWeek', hour: 7, weekday: '3' }, { mode: 'everyX', value: 10, unit: 'minutes' }] } } },
      noop('A'),
    ], [['Every', 'A'], ['Cron', 'A']], { settings: { timezone: 'Europe/Berlin', executionOrder: 'v1' } }));
    expect(r.report.schedules.map((s) => s.cron)).toEqual(['*/15 * * * *', '5 */2 * * *', '0 9 * * *', '0 8 * * 1,5', '0 0 15 */3 *', '0 */6 * * *', '0 7 * * 3', '*/10 * * * *']);
    expect(new Set(r.report.schedules.map((s) => s.timezone))).toEqual(new Set(['Europe/Berlin']));
    expect(r.report.settingsIgnored).toEqual(['executionOrder']);
  });

  it('refuses a trigger it cannot express, and a second webhook', () => {
    const r = convertN8n(n8n([{ name: 'Gmail', type: 'n8n-nodes-base.gmailTrigger' }, hook('a'), { ...hook('b'), name: 'Webhook2' }, noop('A')], [['Gmail', 'A'], ['Webhook', 'A'], ['Webhook2', 'A']]), { registry });
    expect(r.ok && r.problems.map((p) => p.pointer)).toEqual(['/nodes/Gmail', '/nodes/Webhook2']);
  });
});

describe('n8n import: HTTP Request', () => {
  it('v4: method, url, query, headers, JSON body with expressions, generic header auth, options', () => {
    const r = ok(n8n([hook('in', 'POST'), {
      name: 'Create order', type: 'n8n-nodes-base.httpRequest', typeVersion: 4.2,
      parameters: {
        method: 'POST', url: '=https://shop.example/orders/{{ $json.body.id }}', authentication: 'genericCredentialType', genericAuthType: 'httpHeaderAuth',
        sendQuery: true, queryParameters: { parameters: [{ name: 'expand', value: 'items' }] },
        sendHeaders: true, headerParameters: { parameters: [{ name: 'X-Trace', value: '={{ $json.headers["x-trace"] }}' }] },
        sendBody: true, specifyBody: 'json', jsonBody: '={ "qty": {{ $json.body.qty }}, "note": "from {{ $json.body.user }}" }',
        options: { timeout: 5000, response: { response: { neverError: true } } },
      },
      credentials: { httpHeaderAuth: { id: '7', name: 'Shop API Key' } },
      retryOnFail: true, maxTries: 4, waitBetweenTries: 2000,
    }], [['Webhook', 'Create order']]));
    expect(node(r, 'create_order')).toEqual({
      id: 'create_order', type: 'http.request', credential: 'shop-api-key', timeoutMs: 5000, retry: { attempts: 4, backoff: 'fixed', delayMs: 2000 },
      params: { method: 'POST', url: 'https://shop.example/orders/{{ input.body.id }}', query: { expand: 'items' }, headers: { 'X-Trace': '{{ input.headers.`x-trace` }}' }, body: { qty: '{{ input.body.qty }}', note: 'from {{ $string(input.body.user) }}' }, ignoreStatus: true },
    });
    expect(r.report.credentials).toEqual([{ n8nName: 'Shop API Key', n8nType: 'httpHeaderAuth', conveyorType: 'header', conveyorName: 'shop-api-key', usedBy: ['Create order'] }]);
  });

  it('v1: requestMethod, *ParametersUi, basic auth, form body; $json after it is the response body', () => {
    const r = ok(n8n([manual, {
      name: 'Legacy', type: 'n8n-nodes-base.httpRequest', typeVersion: 1,
      parameters: { requestMethod: 'PUT', url: 'https://api.example/x', authentication: 'basicAuth', queryParametersUi: { parameter: [{ name: 'a', value: '1' }] }, headerParametersUi: { parameter: [{ name: 'Accept', value: 'application/json' }] }, bodyParametersUi: { parameter: [{ name: 'k', value: 'v w' }] }, options: { bodyContentType: 'form-urlencoded' } },
      credentials: { httpBasicAuth: { id: '1', name: 'Legacy login' } },
    }, { name: 'Use', type: 'n8n-nodes-base.set', typeVersion: 2, parameters: { keepOnlySet: true, values: { string: [{ name: 'got', value: '={{ $json.result }}' }] } } }], [['Start', 'Legacy'], ['Legacy', 'Use']]));
    expect(node(r, 'legacy')).toMatchObject({ credential: 'legacy-login', params: { method: 'PUT', query: { a: '1' }, headers: { Accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' }, body: 'k=v%20w' } });
    expect(node(r, 'use').params).toEqual({ value: { got: '{{ nodes.legacy.output.body.result }}' } });
    expect(r.report.credentials[0]).toMatchObject({ conveyorType: 'basic' });
  });

  it('v4 raw and form-urlencoded bodies, values computed or literal', async () => {
    const http = (name: string, parameters: Record<string, unknown>): Node => ({ name, type: 'n8n-nodes-base.httpRequest', typeVersion: 4.2, parameters: { method: 'POST', url: 'https://api.example/x', sendBody: true, ...parameters } });
    const r = ok(n8n([hook('b', 'POST'), http('Raw', { contentType: 'raw', rawContentType: 'text/csv', body: '=id,name\n{{ $json.body.id }},{{ $json.body.name }}' }), http('Form', { contentType: 'form-urlencoded', bodyParameters: { parameters: [{ name: 'q', value: '={{ $json.body.name }}' }, { name: 'lang', value: 'en gb' }] } })], [['Webhook', 'Raw'], ['Webhook', 'Form']]));
    expect(node(r, 'raw').params).toMatchObject({ headers: { 'content-type': 'text/csv' }, body: 'id,name\n{{ input.body.id }},{{ input.body.name }}' });
    const form = node(r, 'form').params as { headers: unknown; body: string };
    expect(form.headers).toEqual({ 'content-type': 'application/x-www-form-urlencoded' });
    expect(form.body).toBe('q={{ $encodeUrlComponent($string(input.body.name)) }}&lang=en%20gb');
    expect(await evaluate('$encodeUrlComponent($string(input.body.name))', { input: { body: { name: 'Ada & co' } } })).toBe('Ada%20%26%20co');
  });

  it('keeps a credential type Conveyor lacks in the report with conveyorType null and a warning', () => {
    const r = ok(n8n([manual, { name: 'Gh', type: 'n8n-nodes-base.httpRequest', typeVersion: 4.1, parameters: { url: 'https://api.github.com/user', authentication: 'predefinedCredentialType', nodeCredentialType: 'githubApi' }, credentials: { githubApi: { id: '2', name: 'GitHub (me)' } } }], [['Start', 'Gh']]));
    expect(r.report.credentials).toEqual([{ n8nName: 'GitHub (me)', n8nType: 'githubApi', conveyorType: null, conveyorName: 'github-me', usedBy: ['Gh'] }]);
    expect(r.report.warnings.join('\n')).toMatch(/githubApi credential has no Conveyor type/);
  });
});

describe('n8n import: Set', () => {
  it('v3.3 assignments, typed; including other fields merges over the input', async () => {
    const r = ok(n8n([hook('s', 'POST'), { name: 'Fields', type: 'n8n-nodes-base.set', typeVersion: 3.4, parameters: { includeOtherFields: true, assignments: { assignments: [{ name: 'total', value: '={{ $json.body.a * 2 }}', type: 'number' }, { name: 'tag', value: 'x', type: 'string' }, { name: 'meta.ok', value: true, type: 'boolean' }] } } }], [['Webhook', 'Fields']]));
    const value = node(r, 'fields').params.value as string;
    expect(await evaluate(value, { input: { body: { a: 4 }, method: 'POST' } })).toEqual({ body: { a: 4 }, method: 'POST', total: 8, tag: 'x', meta: { ok: true } });
  });

  it("v3.3 converts expression results to each field's type as n8n does (values from n8n's Set.v3_3 test fixture pinData)", async () => {
    const field = (name: string, value: string, type: string) => ({ name, value, type });
    const r = ok(n8n([hook('t', 'POST'), { name: 'Typed', type: 'n8n-nodes-base.set', typeVersion: 3.3, parameters: { include: 'none', assignments: { assignments: [
      field('numberToString', '={{ $json.body.n }}', 'string'), field('objectToString', '={{ $json.body.obj }}', 'string'), field('arrayToString', '={{ $json.body.list }}', 'string'),
      field('stringToNumber', '={{ $json.body.s }}', 'number'), field('boolToNumber', '={{ $json.body.t }}', 'number'),
      field('stringToBoolean', '={{ $json.body.upper }}', 'boolean'), field('zeroToBoolean', '={{ $json.body.zero }}', 'boolean'), field('oneStringToBoolean', '={{ $json.body.one }}', 'boolean'),
    ] } } }], [['Webhook', 'Typed']]));
    const value = node(r, 'typed').params.value as Record<string, string>;
    const body = { n: 1.334535, obj: { objKey: 2, objArray: [1, 2, 3, 4], objBool: true }, list: [1, 2, 3, 4], s: '3.14', t: true, upper: 'TRUE', zero: 0, one: '1' };
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = await evaluate(v, { input: { body } });
    expect(out).toEqual({ numberToString: '1.334535', objectToString: '{"objKey":2,"objArray":[1,2,3,4],"objBool":true}', arrayToString: '[1,2,3,4]', stringToNumber: 3.14, boolToNumber: 1, stringToBoolean: true, zeroToBoolean: false, oneStringToBoolean: true });
  });

  it('JSON mode keeping the input (v3.0–3.2 include "all" by default) merges the JSON, expressions resolved, over the input', async () => {
    const r = ok(n8n([hook('j', 'POST'), { name: 'Json', type: 'n8n-nodes-base.set', typeVersion: 3.2, parameters: { mode: 'raw', jsonOutput: '={ "greeting": "Hi {{ $json.body.name }}", "n": {{ $json.body.n + 1 }} }' } }], [['Webhook', 'Json']]));
    expect(await evaluate(node(r, 'json').params.value as string, { input: { body: { name: 'Ada', n: 1 } } })).toEqual({ body: { name: 'Ada', n: 1 }, greeting: 'Hi Ada', n: 2 });
  });

  it('never modifies the export it converts', () => {
    const wf = n8n([manual, { name: 'Full', type: 'n8n-nodes-base.httpRequest', typeVersion: 4.2, parameters: { url: 'https://a.example', options: { response: { response: { fullResponse: true } } } } }, { name: 'Use', type: 'n8n-nodes-base.set', typeVersion: 3.4, parameters: { assignments: { assignments: [{ name: 's', value: '={{ $json.statusCode }}', type: 'number' }] } } }], [['Start', 'Full'], ['Full', 'Use']]);
    const before = structuredClone(wf);
    const r = ok(wf);
    expect(wf).toStrictEqual(before);
    expect(node(r, 'use').params).toEqual({ value: { s: '{{ $number(nodes.full.output.status) }}' } });
  });

  it('v3.0 fields.values include "all" by default; v1 keepOnlySet; raw JSON mode', () => {
    const v3 = ok(n8n([manual, { name: 'S3', type: 'n8n-nodes-base.set', typeVersion: 3, parameters: { include: 'none', fields: { values: [{ name: 'n', type: 'numberValue', numberValue: '5' }, { name: 'list', type: 'arrayValue', arrayValue: '[1,2]' }] } } }], [['Start', 'S3']]));
    expect(node(v3, 's3').params).toEqual({ value: { n: 5, list: [1, 2] } });
    const raw = ok(n8n([manual, { name: 'Raw', type: 'n8n-nodes-base.set', typeVersion: 3.4, parameters: { mode: 'raw', jsonOutput: '={ "a": {{ 1 + 2 }}, "b": "c" }' } }], [['Start', 'Raw']]));
    expect(node(raw, 'raw').params).toEqual({ value: { a: '{{ (1 + 2) }}', b: 'c' } });
  });
});

describe('n8n import: IF, Switch and branch guards', () => {
  const scopeWith = (item: unknown, extra: Record<string, unknown> = {}) => ({ input: { body: item }, nodes: extra });

  it('IF v1 (typed conditions, defaults left out by n8n) → {branch}; each branch first node is guarded', async () => {
    const r = ok(n8n([hook('i', 'POST'), { name: 'Small?', type: 'n8n-nodes-base.if', parameters: { conditions: { number: [{ value1: '={{ $json.body.n }}', value2: 10 }], string: [{ value1: '={{ $json.body.s }}', operation: 'startsWith', value2: 'ab' }] }, combineOperation: 'any' } }, noop('Yes'), noop('No')], [['Webhook', 'Small?'], ['Small?', 'Yes', 0], ['Small?', 'No', 1]]));
    const branch = (node(r, 'small').params.value as { branch: string }).branch;
    expect(await evaluate(branch, scopeWith({ n: 3, s: 'zz' }))).toBe(0);
    expect(await evaluate(branch, scopeWith({ n: 30, s: 'abc' }))).toBe(0);
    expect(await evaluate(branch, scopeWith({ n: 30, s: 'zz' }))).toBe(1);
    expect(node(r, 'yes').when).toBe('{{ nodes.small.output.branch = 0 }}');
    expect(node(r, 'no').when).toBe('{{ nodes.small.output.branch = 1 }}');
  });

  it('IF v2 filter: string, number, boolean, array and exists operators, ignoreCase', async () => {
    const cond = (leftValue: string, type: string, operation: string, rightValue?: unknown) => ({ leftValue, rightValue, operator: { type, operation } });
    const r = ok(n8n([hook('f', 'POST'), { name: 'If', type: 'n8n-nodes-base.if', typeVersion: 2.2, parameters: { options: { ignoreCase: true }, conditions: { combinator: 'and', conditions: [cond('={{ $json.body.name }}', 'string', 'contains', 'ADA'), cond('={{ $json.body.n }}', 'number', 'gte', '2'), cond('={{ $json.body.flag }}', 'boolean', 'true'), cond('={{ $json.body.tags }}', 'array', 'contains', 'vip'), cond('={{ $json.body.id }}', 'string', 'exists'), cond('={{ $json.body.code }}', 'string', 'regex', '/^A\\d+$/')] } } }, noop('T')], [['Webhook', 'If'], ['If', 'T']]));
    const branch = (node(r, 'if').params.value as { branch: string }).branch;
    const item = { name: 'Lady Ada', n: 2, flag: true, tags: ['vip'], id: 'x', code: 'a12' };
    expect(await evaluate(branch, scopeWith(item))).toBe(0);
    expect(await evaluate(branch, scopeWith({ ...item, n: 1 }))).toBe(1);
    expect(await evaluate(branch, scopeWith({ ...item, id: undefined }))).toBe(1);
    expect(await evaluate(branch, scopeWith({ ...item, tags: [] }))).toBe(1);
  });

  it('Switch v3 rules with an extra fallback output; v1 rules; expression mode', async () => {
    const rule = (v: string) => ({ conditions: { conditions: [{ leftValue: '={{ $json.body.kind }}', rightValue: v, operator: { type: 'string', operation: 'equals' } }], combinator: 'and' } });
    const r = ok(n8n([hook('w', 'POST'), { name: 'Route', type: 'n8n-nodes-base.switch', typeVersion: 3.2, parameters: { rules: { values: [rule('a'), rule('b')] }, options: { fallbackOutput: 'extra' } } }, noop('A'), noop('B'), noop('Other')], [['Webhook', 'Route'], ['Route', 'A', 0], ['Route', 'B', 1], ['Route', 'Other', 2]]));
    const branch = (node(r, 'route').params.value as { branch: string }).branch;
    expect(await evaluate(branch, scopeWith({ kind: 'b' }))).toBe(1);
    expect(await evaluate(branch, scopeWith({ kind: 'zzz' }))).toBe(2);
    expect(node(r, 'other').when).toBe('{{ nodes.route.output.branch = 2 }}');

    const v1 = ok(n8n([hook('v', 'POST'), { name: 'Old', type: 'n8n-nodes-base.switch', parameters: { dataType: 'string', value1: '={{ $json.body.kind }}', rules: { rules: [{ value2: 'a', output: 0 }, { value2: 'b', output: 1 }] }, fallbackOutput: 3 } }, noop('X')], [['Webhook', 'Old'], ['Old', 'X', 3]]));
    const oldBranch = (node(v1, 'old').params.value as { branch: string }).branch;
    expect(await evaluate(oldBranch, scopeWith({ kind: 'b' }))).toBe(1);
    expect(await evaluate(oldBranch, scopeWith({ kind: 'q' }))).toBe(3);

    const expr = ok(n8n([hook('e', 'POST'), { name: 'Pick', type: 'n8n-nodes-base.switch', typeVersion: 3, parameters: { mode: 'expression', numberOutputs: 2, output: '={{ $json.body.n > 5 ? 1 : 0 }}' } }, noop('X')], [['Webhook', 'Pick'], ['Pick', 'X', 1]]));
    expect(await evaluate((node(expr, 'pick').params.value as { branch: string }).branch, scopeWith({ n: 9 }))).toBe(1);
  });

  it('Switch v3 sending to all matching outputs: {branch, branches}, guards test membership', async () => {
    const rule = (n: number) => ({ conditions: { conditions: [{ leftValue: '={{ $json.body.n }}', rightValue: n, operator: { type: 'number', operation: 'gte' } }], combinator: 'and' } });
    const r = ok(n8n([hook('all', 'POST'), { name: 'Tiers', type: 'n8n-nodes-base.switch', typeVersion: 3.2, parameters: { rules: { values: [rule(10), rule(100)] }, options: { allMatchingOutputs: true } } }, noop('Ten'), noop('Hundred')], [['Webhook', 'Tiers'], ['Tiers', 'Ten', 0], ['Tiers', 'Hundred', 1]]));
    const value = node(r, 'tiers').params.value as { branch: string; branches: string };
    expect(await evaluate(value.branches, scopeWith({ n: 150 }))).toEqual([0, 1]);
    expect(await evaluate(value.branches, scopeWith({ n: 50 }))).toEqual([0]);
    expect(await evaluate(value.branches, scopeWith({ n: 5 }))).toEqual([]);
    expect(node(r, 'hundred').when).toBe('{{ 1 in nodes.tiers.output.branches }}');
    expect(await evaluate(node(r, 'hundred').when!, { nodes: { tiers: { output: { branches: [0, 1] } } } })).toBe(true);
    expect(await evaluate(node(r, 'hundred').when!, { nodes: { tiers: { output: { branches: [0] } } } })).toBe(false);
  });

  it('a node fed by both branches runs on either; $json after an IF is the IF\'s input', () => {
    const r = ok(n8n([hook('b', 'POST'), { name: 'If', type: 'n8n-nodes-base.if', parameters: { conditions: { boolean: [{ value1: '={{ $json.body.ok }}', value2: true }] } } }, { name: 'After', type: 'n8n-nodes-base.set', typeVersion: 3.4, parameters: { assignments: { assignments: [{ name: 'v', value: '={{ $json.body.v }}', type: 'string' }] } } }], [['Webhook', 'If'], ['If', 'After', 0], ['If', 'After', 1]]));
    expect(node(r, 'after').when).toBe('{{ nodes.if.output.branch = 0 or nodes.if.output.branch = 1 }}');
    expect(node(r, 'after').params).toEqual({ value: { v: '{{ $string(input.body.v) }}' } });
  });
});

describe('n8n import: Merge, Wait, Execute Workflow, integrations', () => {
  it('Merge append joins both inputs as a noop; a combining Merge is unconvertible', () => {
    const r = ok(n8n([manual, noop('A'), noop('B'), { name: 'Merge', type: 'n8n-nodes-base.merge', typeVersion: 3 }], [['Start', 'A'], ['Start', 'B'], ['A', 'Merge', 0, 0], ['B', 'Merge', 0, 1]]));
    expect(node(r, 'merge')).toEqual({ id: 'merge', type: 'noop', params: {} });
    expect(r.definition.edges).toEqual([{ from: 'a', to: 'merge' }, { from: 'b', to: 'merge' }]);
    const combine = convertN8n(n8n([manual, noop('A'), { name: 'Merge', type: 'n8n-nodes-base.merge', typeVersion: 3, parameters: { mode: 'combine' } }], [['Start', 'A'], ['A', 'Merge']]), { registry });
    expect(combine.ok && combine.problems).toEqual([{ pointer: '/nodes/Merge', message: expect.stringMatching(/mode 'combine'/) }]);
  });

  it('$json after a join of several sources, or after an appending Merge, is untranslatable; naming the node works', () => {
    const setJson = (name: string, value: string): Node => ({ name, type: 'n8n-nodes-base.set', typeVersion: 3.4, parameters: { assignments: { assignments: [{ name: 'v', value, type: 'string' }] } } });
    const wf = n8n([manual, setJson('A', 'a'), setJson('B', 'b'), setJson('Join', '={{ $json.v }}'), { name: 'Merge', type: 'n8n-nodes-base.merge', typeVersion: 3 }, setJson('After', '={{ $json.v }}'), setJson('Named', "={{ $('A').item.json.v }}")],
      [['Start', 'A'], ['Start', 'B'], ['A', 'Join'], ['B', 'Join'], ['A', 'Merge', 0, 0], ['B', 'Merge', 0, 1], ['Merge', 'After'], ['Merge', 'Named']]);
    const r = convertN8n(wf, { registry });
    if (!r.ok) throw new Error(r.message);
    expect(r.problems.map((p) => [p.pointer, p.message])).toEqual([
      ['/nodes/Join', expect.stringMatching(/several nodes feed 'Join' \('A', 'B'\)/)],
      ['/nodes/After', expect.stringMatching(/after a Merge in mode 'append'/)],
    ]);
    expect(r.report.nodes.find((n) => n.n8nName === 'Named')).toMatchObject({ outcome: 'converted' });
    expect(r.definition.nodes.find((n) => n.id === 'named')!.params).toEqual({ value: { v: '{{ $string(nodes.a.output.v) }}' } });
  });

  it('Wait: time interval (v1 hours, v1.1 seconds by default), specific time in the workflow zone, webhook resume', () => {
    const r = ok(n8n([manual, { name: 'W1', type: 'n8n-nodes-base.wait', parameters: { amount: 2 } }, { name: 'W2', type: 'n8n-nodes-base.wait', typeVersion: 1.1 }, { name: 'W3', type: 'n8n-nodes-base.wait', typeVersion: 1.1, parameters: { resume: 'specificTime', dateTime: '2030-01-15T09:00:00' } }, { name: 'W4', type: 'n8n-nodes-base.wait', typeVersion: 1.1, parameters: { resume: 'webhook', limitWaitTime: true, resumeAmount: 30, resumeUnit: 'minutes' } }], [['Start', 'W1'], ['W1', 'W2'], ['W2', 'W3'], ['W3', 'W4']], { settings: { timezone: 'America/New_York' } }));
    expect(node(r, 'w1').params).toEqual({ ms: 7_200_000 });
    expect(node(r, 'w2').params).toEqual({ ms: 5000 });
    expect(node(r, 'w3').params).toEqual({ until: '2030-01-15T14:00:00.000Z' });
    expect(node(r, 'w4')).toMatchObject({ type: 'wait.signal', params: { timeoutMs: 1_800_000 } });
  });

  it('Execute Workflow → workflow.run through workflowMap, else unconvertible naming the id', () => {
    const wf = n8n([hook('p', 'POST'), { name: 'Child', type: 'n8n-nodes-base.executeWorkflow', typeVersion: 1.1, parameters: { workflowId: { __rl: true, value: 'AbC123', mode: 'list' } } }], [['Webhook', 'Child']]);
    expect(node(ok(wf, { workflowMap: { AbC123: 'child-flow' } }), 'child')).toMatchObject({ type: 'workflow.run', params: { workflow: 'child-flow', input: '{{ input }}' } });
    const refused = convertN8n(wf, { registry });
    expect(refused.ok && refused.problems[0]?.message).toMatch(/workflowMap \{"AbC123"/);
  });

  it('Slack post → slack.message, Send Email → email.send, OpenAI chat → llm.chat; their credentials are named', () => {
    const r = convertN8n(n8n([hook('m', 'POST'),
      { name: 'Slack', type: 'n8n-nodes-base.slack', typeVersion: 2.2, parameters: { select: 'channel', channelId: { __rl: true, value: 'C0123', mode: 'id' }, text: '=New order {{ $json.body.id }}', otherOptions: {} }, credentials: { slackApi: { id: '1', name: 'Slack Bot' } } },
      { name: 'Mail', type: 'n8n-nodes-base.emailSend', typeVersion: 2.1, parameters: { fromEmail: 'shop@example.com', toEmail: '={{ $json.body.email }}', subject: 'Thanks', html: '=<b>{{ $json.body.id }}</b>', options: { ccEmail: 'ops@example.com' } }, credentials: { smtp: { id: '2', name: 'Mailer' } } },
      { name: 'Summarise', type: '@n8n/n8n-nodes-langchain.openAi', typeVersion: 1.8, parameters: { modelId: { __rl: true, value: 'gpt-4o-mini', mode: 'list' }, messages: { values: [{ content: '=Summarise {{ $json.body.note }}' }, { role: 'system', content: 'Be brief' }] }, options: { temperature: 0.2, maxTokens: 200 } }, credentials: { openAiApi: { id: '3', name: 'OpenAI' } } },
      { name: 'Use', type: 'n8n-nodes-base.set', typeVersion: 3.4, parameters: { assignments: { assignments: [{ name: 'summary', value: '={{ $json.message.content }}', type: 'string' }] } } },
    ], [['Webhook', 'Slack'], ['Webhook', 'Mail'], ['Webhook', 'Summarise'], ['Summarise', 'Use']]));
    if (!r.ok) throw new Error(r.message);
    const byId = (id: string) => r.definition.nodes.find((n) => n.id === id);
    expect(byId('slack')).toEqual({ id: 'slack', type: 'slack.message', credential: 'slack-bot', params: { channel: 'C0123', text: 'New order {{ input.body.id }}' } });
    expect(byId('mail')).toEqual({ id: 'mail', type: 'email.send', credential: 'mailer', params: { from: 'shop@example.com', to: '{{ input.body.email }}', subject: 'Thanks', cc: 'ops@example.com', html: '<b>{{ input.body.id }}</b>' } });
    expect(byId('summarise')).toEqual({ id: 'summarise', type: 'llm.chat', credential: 'openai', params: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Summarise {{ input.body.note }}' }, { role: 'system', content: 'Be brief' }], temperature: 0.2, maxTokens: 200 } });
    expect(byId('use')!.params).toEqual({ value: { summary: '{{ $string(nodes.summarise.output.raw.choices[0].message.content) }}' } });
    expect(r.report.credentials.map((c) => [c.n8nType, c.conveyorType])).toEqual([['slackApi', 'slack'], ['smtp', 'smtp'], ['openAiApi', 'openai']]);
  });
});

describe('n8n import: refusal, placeholders and bad input', () => {
  const withCode = n8n([manual, { name: 'Code', type: 'n8n-nodes-base.code', parameters: { jsCode: 'return items' } }, { name: 'Call', type: 'n8n-nodes-base.httpRequest', typeVersion: 4.2, parameters: { url: '=https://x.example/{{ $now.toISO() }}' } }, noop('End')], [['Start', 'Code'], ['Code', 'Call'], ['Call', 'End']]);

  it('lists every unconvertible node and expression, each pointing at the n8n node', () => {
    const r = convertN8n(withCode, { registry });
    if (!r.ok) throw new Error(r.message);
    expect(r.problems).toEqual([
      { pointer: '/nodes/Code', message: "node 'Code' (n8n-nodes-base.code): no Conveyor equivalent for the n8n node type 'n8n-nodes-base.code'" },
      { pointer: '/nodes/Call', message: "node 'Call': parameter 'url': \"https://x.example/{{ $now.toISO() }}\" is untranslatable: '$now' has no Conveyor equivalent", parameter: 'url', text: 'https://x.example/{{ $now.toISO() }}' },
    ]);
    expect(r.report.nodes.map((n) => n.outcome)).toEqual(['trigger', 'unconvertible', 'unconvertible', 'converted']);
    expect(r.report.untranslatable).toEqual([{ n8nNode: 'Call', parameter: 'url', text: 'https://x.example/{{ $now.toISO() }}', reason: "'$now' has no Conveyor equivalent" }]);
  });

  it('allowPartial puts a noop carrying the reason in place of each', () => {
    const r = ok(withCode, { allowPartial: true });
    expect(node(r, 'code')).toEqual({ id: 'code', type: 'noop', params: { placeholder: true, n8nType: 'n8n-nodes-base.code', reason: expect.stringMatching(/no Conveyor equivalent/) } });
    expect(node(r, 'call')).toMatchObject({ type: 'noop', params: { placeholder: true } });
    expect(r.report.nodes.map((n) => n.outcome)).toEqual(['trigger', 'placeholder', 'placeholder', 'converted']);
    expect(r.definition.edges).toEqual([{ from: 'code', to: 'call' }, { from: 'call', to: 'end' }]);
  });

  it.each([
    ['not an export', { hello: 'world' }, 'not_n8n_export'],
    ['an array', [1, 2], 'not_n8n_export'],
    ['duplicate node names', n8n([noop('A'), noop('A')]), 'duplicate_node_names'],
    ['a cycle', n8n([noop('A'), noop('B'), noop('C')], [['A', 'B'], ['B', 'C'], ['C', 'A']]), 'cycle'],
    ['a connection to a missing node', n8n([noop('A')], [['A', 'Ghost']]), 'invalid_connections'],
    ['several workflows (n8n export:workflow --all)', [n8n([noop('A')]), n8n([noop('B')])], 'several_workflows'],
    ['a string that is not JSON', '{"nodes": [', 'not_n8n_export'],
  ])('refuses %s as bad input, naming the problem', (_label, input, code) => {
    const r = convertN8n(input);
    expect(r).toMatchObject({ ok: false, code, problems: expect.arrayContaining([expect.objectContaining({ message: expect.any(String) })]) });
  });

  it('takes the one-workflow array `n8n export:workflow` writes, and an export sent as JSON text', () => {
    const wf = n8n([manual, noop('A')], [['Start', 'A']]);
    expect(ok([wf]).definition).toEqual(ok(wf).definition);
    expect(ok(JSON.stringify(wf)).definition).toEqual(ok(wf).definition);
  });

  it('property: the same export converts to the same definition, every time', () => {
    const types = [
      (name: string): Node => noop(name),
      (name: string): Node => ({ name, type: 'n8n-nodes-base.set', typeVersion: 3.4, parameters: { assignments: { assignments: [{ name: 'x', value: '={{ $json.x }}', type: 'string' }] } } }),
      (name: string): Node => ({ name, type: 'n8n-nodes-base.httpRequest', typeVersion: 4.2, parameters: { url: '=https://a.example/{{ $json.id }}' } }),
      (name: string): Node => ({ name, type: 'n8n-nodes-base.if', typeVersion: 2, parameters: { conditions: { conditions: [{ leftValue: '={{ $json.n }}', rightValue: 1, operator: { type: 'number', operation: 'gt' } }], combinator: 'and' } } }),
      (name: string): Node => ({ name, type: 'n8n-nodes-base.wait', typeVersion: 1.1 }),
    ];
    const exportArb = fc
      .array(fc.tuple(fc.nat(types.length - 1), fc.string({ minLength: 1, maxLength: 12 }), fc.nat()), { minLength: 1, maxLength: 12 })
      .map((specs) => {
        const names = specs.map(([, label], i) => `${label} ${i}`);
        const nodes = [hook('prop', 'POST'), ...specs.map(([t], i) => types[t]!(names[i]!))];
        // Each node hangs off one earlier node (or the webhook): a tree, so never a cycle.
        const links = specs.map(([, , parent], i): [string, string, number] => [i === 0 ? 'Webhook' : names[parent % i]!, names[i]!, 0]);
        return n8n(nodes, links);
      });
    fc.assert(
      fc.property(exportArb, (wf) => {
        const first = convertN8n(structuredClone(wf), { registry, allowPartial: true });
        const second = convertN8n(JSON.parse(JSON.stringify(wf)), { registry, allowPartial: true });
        expect(second).toEqual(first);
        if (first.ok && first.problems.length === 0) expect(validateWorkflow(first.definition, registry).ok).toBe(true);
      }),
      { numRuns: 150 },
    );
  });
});
