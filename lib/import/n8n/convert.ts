import type { ErrorDetail } from '../../errors.js';
import { canonicalTimeZone } from '../../schedules/cron.js';
import type { NodeDefinition, WorkflowDefinition } from '../../workflows/definition.js';
import { assemble, checkSaved } from './assemble.js';
import { parseExport, topologicalOrder, type Connection, type N8nNode } from './export.js';
import { Untranslatable, type ExprScope, type ExpressionProblem, type Lookup } from './expressions.js';
import { ifNode, switchNode } from './nodes/branch.js';
import { executeWorkflowNode, mergeNode, noOpNode, waitNode } from './nodes/flow.js';
import { httpRequestNode } from './nodes/http.js';
import { emailNode, openAiNode, slackNode } from './nodes/messaging.js';
import { setNode } from './nodes/set.js';
import { isTrigger, planTrigger } from './triggers.js';
import { credentialSlug, nameSlug, nodeIdSlug, type ImportReport, type ConvertOptions, type MapContext, type Mapped, type Mapper, type NodeState, type ReportCredential } from './types.js';

export type { ConvertOptions } from './types.js';

/** n8n node type → its mapper: one Conveyor node per n8n node. */
const MAPPERS: Record<string, Mapper> = {
  'n8n-nodes-base.httpRequest': httpRequestNode,
  'n8n-nodes-base.set': setNode,
  'n8n-nodes-base.if': ifNode,
  'n8n-nodes-base.switch': switchNode,
  'n8n-nodes-base.merge': mergeNode,
  'n8n-nodes-base.noOp': noOpNode,
  'n8n-nodes-base.wait': waitNode,
  'n8n-nodes-base.executeWorkflow': executeWorkflowNode,
  'n8n-nodes-base.slack': slackNode,
  'n8n-nodes-base.emailSend': emailNode,
  'n8n-nodes-base.openAi': openAiNode,
  '@n8n/n8n-nodes-langchain.openAi': openAiNode,
};

const STICKY_NOTE = 'n8n-nodes-base.stickyNote';

export type ConvertResult =
  | { ok: false; code: string; message: string; problems: ErrorDetail[] }
  | { ok: true; definition: WorkflowDefinition; report: ImportReport; problems: ErrorDetail[] };

/**
 * Converts an n8n workflow export into a Conveyor definition and its import report. Pure: the
 * same export and options give the same result. `problems` lists what could not be converted
 * (a refusal, 422) — empty with `allowPartial`, which puts placeholders in their place.
 */
export function convertN8n(input: unknown, opts: ConvertOptions = {}): ConvertResult {
  const parsed = parseExport(input);
  if (!parsed.ok) return parsed;
  const { workflow, byName, connections, subNodes } = parsed.value;
  const workflowMap = opts.workflowMap ?? {};
  const report: ImportReport = { nodes: [], credentials: [], schedules: [], webhook: null, warnings: [], untranslatable: [], settingsIgnored: [] };
  const problems: ErrorDetail[] = [];

  const settings = workflow.settings ?? {};
  let timezone = 'UTC';
  if (settings.timezone && settings.timezone !== 'DEFAULT') {
    const zone = canonicalTimeZone(settings.timezone);
    if (zone) timezone = zone;
    else report.warnings.push(`settings.timezone '${settings.timezone}' is not an IANA time zone: schedules use UTC`);
  }
  report.settingsIgnored = Object.keys(settings).filter((k) => k !== 'timezone').sort();
  if (report.settingsIgnored.length > 0) report.warnings.push(`workflow settings not carried over: ${report.settingsIgnored.join(', ')}`);
  if (workflow.pinData && Object.keys(workflow.pinData).length > 0) report.warnings.push('pinned data (pinData) is test data in n8n and is not imported');

  // Ids in export order, so the same export always gets the same ids.
  const ids = new Map<string, string>();
  const used = new Set<string>();
  for (const node of workflow.nodes) {
    if (node.type === STICKY_NOTE || isTrigger(node)) continue;
    const base = nodeIdSlug(node.name);
    let id = base;
    for (let i = 2; used.has(id); i++) id = `${base}_${i}`;
    used.add(id);
    ids.set(node.name, id);
  }

  const predsOf = new Map<string, Connection[]>([...byName.keys()].map((n) => [n, []]));
  for (const c of connections) predsOf.get(c.to)!.push(c);
  const ancestorCache = new Map<string, Set<string>>();
  const ancestors = (name: string): Set<string> => {
    let seen = ancestorCache.get(name);
    if (seen) return seen;
    seen = new Set();
    const todo = predsOf.get(name)!.map((c) => c.from);
    while (todo.length > 0) {
      const n = todo.pop()!;
      if (seen.has(n)) continue;
      seen.add(n);
      todo.push(...predsOf.get(n)!.map((c) => c.from));
    }
    ancestorCache.set(name, seen);
    return seen;
  };

  const state = new Map<string, NodeState>();
  // A node's state is final once set, so what its item resolves to is too (diamonds of pass-through nodes stay linear).
  const resolved = new Map<string, Lookup>();
  const refOf = (name: string): Lookup => {
    const cached = resolved.get(name);
    if (cached) return cached;
    const lookup = resolve(name);
    if (state.has(name)) resolved.set(name, lookup);
    return lookup;
  };
  const resolve = (name: string): Lookup => {
    const s = state.get(name);
    if (!s) return { ok: false, reason: `'${name}' is not upstream` };
    if (s.kind === 'trigger') return { ok: true, ref: { base: 'input' } };
    if (s.kind === 'dropped') return { ok: false, reason: `'${name}' is not imported` };
    const out = s.output;
    if (out === 'passthrough') return sources(predsOf.get(name)!, name);
    if ('input' in out) return sources(predsOf.get(name)!.filter((c) => c.input === out.input), name);
    if ('none' in out) return { ok: false, reason: out.none };
    return { ok: true, ref: out };
  };
  const sources = (list: Connection[], name: string): Lookup => {
    if (list.length === 0) return { ok: true, ref: { base: 'input' } };
    const found = new Map<string, { lookup: Lookup; from: string }>();
    for (const c of list) {
      const r = refOf(c.from);
      if (!r.ok) return r;
      const key = JSON.stringify(r.ref);
      if (!found.has(key)) found.set(key, { lookup: r, from: c.from });
    }
    if (found.size === 1) return [...found.values()][0]!.lookup;
    return { ok: false, reason: `several nodes feed '${name}' (${[...found.values()].map((f) => `'${f.from}'`).join(', ')}), so $json has no single source: name one with $('Node')` };
  };

  const nodes: NodeDefinition[] = [];
  const n8nNameOf = new Map<string, string>();
  const credentials = new Map<string, ReportCredential>();

  const refuse = (node: N8nNode, id: string | undefined, reason: string, details: ErrorDetail[]) => {
    if (opts.allowPartial && id) {
      nodes.push({ id, type: 'noop', params: { placeholder: true, n8nType: node.type, reason } });
      n8nNameOf.set(id, node.name);
      state.set(node.name, { kind: 'node', id, output: { base: `nodes.${id}.output` } });
      report.nodes.push({ n8nName: node.name, n8nType: node.type, outcome: 'placeholder', nodeId: id, type: 'noop', reason });
      report.warnings.push(`'${node.name}' is a placeholder: ${reason}`);
      return;
    }
    if (id) state.set(node.name, { kind: 'node', id, output: { base: `nodes.${id}.output` } });
    else state.set(node.name, { kind: 'dropped' });
    report.nodes.push({ n8nName: node.name, n8nType: node.type, outcome: 'unconvertible', ...(id ? { nodeId: id } : {}), reason });
    problems.push(...(details.length > 0 ? details : [{ pointer: `/nodes/${node.name}`, message: `node '${node.name}' (${node.type}): ${reason}` }]));
  };

  for (const name of topologicalOrder([...byName.keys()], connections)) {
    const node = byName.get(name)!;
    const id = ids.get(name);
    if (node.type === STICKY_NOTE) {
      state.set(name, { kind: 'dropped' });
      report.nodes.push({ n8nName: name, n8nType: node.type, outcome: 'dropped', reason: 'a sticky note' });
      continue;
    }
    if (isTrigger(node)) {
      convertTrigger(node, timezone, opts.allowPartial === true, report, problems);
      state.set(name, { kind: 'trigger' });
      continue;
    }
    if (subNodes.has(name)) {
      refuse(node, id, 'an AI sub-node (a model, memory or tool attached to another node) has no Conveyor equivalent', []);
      continue;
    }
    const expressionProblems: ExpressionProblem[] = [];
    const warnings: string[] = [];
    const pendingCredentials: [string, string | null, string][] = [];
    const scope: ExprScope = {
      json: () => sources(predsOf.get(name)!, name),
      node: (target) => (!byName.has(target) ? { ok: false, reason: `there is no node named '${target}'` } : !ancestors(name).has(target) ? { ok: false, reason: `'${target}' is not upstream of '${name}'` } : refOf(target)),
    };
    const ctx: MapContext = {
      node,
      id: id!,
      p: node.parameters,
      version: node.typeVersion,
      scope,
      problems: expressionProblems,
      warn: (m) => warnings.push(`'${name}': ${m}`),
      credential: (n8nType, conveyorType) => {
        const ref = node.credentials?.[n8nType];
        if (!ref) {
          warnings.push(`'${name}': uses a ${n8nType} credential the export does not name: set the node's credential`);
          return undefined;
        }
        const conveyorName = credentialSlug(ref.name);
        pendingCredentials.push([n8nType, conveyorType, ref.name]);
        return conveyorName;
      },
      workflowMap,
      timezone,
      inputSource: (k) => sources(predsOf.get(name)!.filter((c) => c.input === k), name),
    };
    let result;
    const mapper = MAPPERS[node.type];
    try {
      result = node.disabled ? noOpNode() : mapper ? mapper(ctx) : { unconvertible: `no Conveyor equivalent for the n8n node type '${node.type}'` };
    } catch (err) {
      if (!(err instanceof Untranslatable)) throw err;
      result = { unconvertible: `untranslatable: ${err.reason}` };
    }
    report.untranslatable.push(...expressionProblems.map((p) => ({ n8nNode: name, parameter: p.parameter, text: p.text, reason: p.reason })));
    if ('unconvertible' in result) {
      refuse(node, id, result.unconvertible, expressionProblems.map((p) => expressionDetail(name, p)));
      continue;
    }
    if (expressionProblems.length > 0) {
      refuse(node, id, `${expressionProblems.length} expression(s) untranslatable: ${expressionProblems.map((p) => `${p.parameter}: ${p.reason}`).join('; ')}`, expressionProblems.map((p) => expressionDetail(name, p)));
      continue;
    }
    report.warnings.push(...warnings);
    for (const [n8nType, conveyorType, n8nName] of pendingCredentials) {
      const key = `${n8nType}\u0000${n8nName}`;
      const entry = credentials.get(key) ?? { n8nName, n8nType, conveyorType, conveyorName: credentialSlug(n8nName), usedBy: [] };
      entry.usedBy.push(name);
      credentials.set(key, entry);
    }
    nodes.push(toNode(id!, node, result, report.warnings));
    n8nNameOf.set(id!, name);
    state.set(name, { kind: 'node', id: id!, output: result.output, ...(result.branch ? { branch: result.branch } : {}) });
    report.nodes.push({ n8nName: name, n8nType: node.type, outcome: 'converted', nodeId: id, type: result.type, ...(node.disabled ? { reason: 'disabled in n8n: passes its input through' } : {}) });
  }
  report.credentials = [...credentials.values()];

  const definition = assemble(nodes, connections, state, opts.name ?? nameSlug(workflow.name ?? '', 'imported-from-n8n'), workflow.name, report);
  // Order the report like the export, not like the conversion.
  const position = new Map(workflow.nodes.map((n, i) => [n.name, i]));
  report.nodes.sort((a, b) => position.get(a.n8nName)! - position.get(b.n8nName)!);
  if (nodes.length === 0) problems.push({ pointer: '/nodes', message: 'nothing to import: the export has no node besides triggers and notes' });
  if (opts.registry && nodes.length > 0 && problems.length === 0) problems.push(...checkSaved(definition, opts, n8nNameOf, report));
  return { ok: true, definition, report, problems };
}

function expressionDetail(node: string, p: ExpressionProblem): ErrorDetail {
  return { pointer: `/nodes/${node}`, message: `node '${node}': parameter '${p.parameter}': ${JSON.stringify(p.text.trim().slice(0, 200))} is untranslatable: ${p.reason}`, parameter: p.parameter, text: p.text };
}

function toNode(id: string, node: N8nNode, m: Mapped, warnings: string[]): NodeDefinition {
  const out: NodeDefinition = { id, type: m.type, params: m.params };
  if (typeof node.notes === 'string' && node.notes.trim()) out.description = node.notes.trim().slice(0, 1024);
  if (m.credential) out.credential = m.credential;
  if (m.timeoutMs) out.timeoutMs = m.timeoutMs;
  if (node.retryOnFail === true) {
    const attempts = Math.min(50, Math.max(1, Math.round(Number(node.maxTries ?? 3)) || 3));
    const delayMs = Math.min(86_400_000, Math.max(0, Math.round(Number(node.waitBetweenTries ?? 1000)) || 0));
    out.retry = { attempts, backoff: 'fixed', delayMs };
  }
  if (node.continueOnFail === true || (typeof node.onError === 'string' && node.onError !== 'stopWorkflow')) {
    warnings.push(`'${node.name}': n8n continued after its errors; in Conveyor a failed node fails its run`);
  }
  if (node.executeOnce === true || node.alwaysOutputData === true) warnings.push(`'${node.name}': "execute once" / "always output data" are not carried over`);
  return out;
}

function convertTrigger(node: N8nNode, timezone: string, allowPartial: boolean, report: ImportReport, problems: ErrorDetail[]): void {
  const entry = { n8nName: node.name, n8nType: node.type };
  if (node.disabled) {
    report.nodes.push({ ...entry, outcome: 'dropped', reason: 'a disabled trigger' });
    return;
  }
  let plan = planTrigger(node);
  if (plan.kind === 'webhook' && report.webhook) plan = { kind: 'unconvertible', reason: `a second webhook: a Conveyor workflow has one (already '${report.webhook.path}' from '${report.webhook.n8nNode}')` };
  switch (plan.kind) {
    case 'none':
      report.nodes.push({ ...entry, outcome: 'trigger', reason: 'runs start through the API (POST /v1/workflows/:name/runs) or a parent workflow' });
      return;
    case 'webhook':
      report.webhook = { path: plan.path, n8nNode: node.name, n8nMethod: plan.method };
      report.nodes.push({ ...entry, outcome: 'trigger', reason: `the workflow's webhook: POST /hooks/${plan.path}` });
      if (plan.method !== 'POST') report.warnings.push(`'${node.name}' listened for ${plan.method}; Conveyor webhooks take POST /hooks/${plan.path}`);
      if (String(node.parameters.path ?? '').includes(':')) report.warnings.push(`'${node.name}': its path parameters (:name) are not carried over; the path is /hooks/${plan.path}`);
      if (node.parameters.responseMode === 'lastNode' || node.parameters.responseMode === 'responseNode') report.warnings.push(`'${node.name}' answered with the workflow's result: call POST /hooks/${plan.path}?wait=true to get the run's output`);
      if (node.parameters.authentication && node.parameters.authentication !== 'none') report.warnings.push(`'${node.name}': its ${String(node.parameters.authentication)} is not imported: give the webhook a secret (an hmac credential) to require signed calls`);
      return;
    case 'schedule':
      for (const cron of plan.crons) report.schedules.push({ n8nNode: node.name, cron, timezone });
      report.nodes.push({ ...entry, outcome: 'trigger', reason: `${plan.crons.length} schedule(s): ${plan.crons.join(', ')} (${timezone})` });
      return;
    case 'unconvertible':
      if (allowPartial) {
        report.nodes.push({ ...entry, outcome: 'dropped', reason: plan.reason });
        report.warnings.push(`trigger '${node.name}' is not imported: ${plan.reason}`);
      } else {
        report.nodes.push({ ...entry, outcome: 'unconvertible', reason: plan.reason });
        problems.push({ pointer: `/nodes/${node.name}`, message: `trigger '${node.name}' (${node.type}): ${plan.reason}` });
      }
  }
}
