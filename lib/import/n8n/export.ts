import { z } from 'zod';
import type { ErrorDetail } from '../../errors.js';

/**
 * The JSON n8n's "Download" and `n8n export:workflow` produce: `nodes`, `connections`, and
 * optional `settings`, `pinData`, `meta`. Loose: n8n adds fields release by release, and an
 * importer that refused unknown ones would refuse next month's exports.
 */
const credentialRef = z.looseObject({ id: z.union([z.string(), z.number()]).nullish(), name: z.string().min(1).max(256) });

export const n8nNodeSchema = z.looseObject({
  name: z.string().min(1).max(256),
  type: z.string().min(1).max(256),
  typeVersion: z.number().min(0).default(1),
  parameters: z.record(z.string(), z.unknown()).default({}),
  credentials: z.record(z.string(), credentialRef).optional(),
  disabled: z.boolean().optional(),
});

const target = z.looseObject({ node: z.string().min(1), type: z.string().default('main'), index: z.number().int().min(0).default(0) });
const outputs = z.array(z.array(target).nullable());

export const n8nExportSchema = z.looseObject({
  name: z.string().optional(),
  nodes: z.array(n8nNodeSchema).min(1, 'an n8n export has at least one node').max(500, 'at most 500 nodes'),
  connections: z.record(z.string(), z.record(z.string(), outputs)),
  settings: z.looseObject({ timezone: z.string().optional() }).nullish(),
  pinData: z.record(z.string(), z.unknown()).nullish(),
  meta: z.unknown().optional(),
});

export type N8nNode = z.infer<typeof n8nNodeSchema>;
export type N8nExport = z.infer<typeof n8nExportSchema>;

/** One `main` connection: output `output` of `from` into input `input` of `to`. */
export interface Connection {
  from: string;
  output: number;
  to: string;
  input: number;
}

export interface ParsedExport {
  workflow: N8nExport;
  byName: Map<string, N8nNode>;
  /** `main` connections only, in export order. */
  connections: Connection[];
  /** Nodes attached through another connection type (an AI model to an agent, a tool): n8n sub-nodes. */
  subNodes: Set<string>;
}

export type ParseResult = { ok: true; value: ParsedExport } | { ok: false; code: string; message: string; problems: ErrorDetail[] };

const pointerOf = (path: readonly PropertyKey[]) => path.map((p) => `/${String(p).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');

/** Checks that `value` is an n8n export whose graph can be converted: unique names, known endpoints, no cycle. */
export function parseExport(value: unknown): ParseResult {
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      return { ok: false, code: 'not_n8n_export', message: 'The workflow is a string that is not JSON: send the n8n export itself (or its JSON text).', problems: [{ pointer: '/workflow', message: 'not JSON' }] };
    }
  }
  // `n8n export:workflow` without --separate writes an array, even for one workflow.
  if (Array.isArray(value) && value.length === 1) value = value[0];
  else if (Array.isArray(value) && value.length > 1 && value.every((w) => w && typeof w === 'object' && 'nodes' in w)) {
    return { ok: false, code: 'several_workflows', message: `The file holds ${value.length} n8n workflows: import them one at a time (\`n8n export:workflow --separate\` writes one file each).`, problems: [{ pointer: '/workflow', message: `${value.length} workflows` }] };
  }
  const parsed = n8nExportSchema.safeParse(value);
  if (!parsed.success) {
    const problems = parsed.error.issues.slice(0, 50).map((i) => ({ pointer: `/workflow${pointerOf(i.path)}`, message: i.message }));
    return { ok: false, code: 'not_n8n_export', message: 'This is not an n8n workflow export (the JSON n8n\'s "Download" or `n8n export:workflow` produce, with `nodes` and `connections`): see details.', problems };
  }
  const workflow = parsed.data;
  const byName = new Map<string, N8nNode>();
  const duplicates = new Set<string>();
  for (const node of workflow.nodes) {
    if (byName.has(node.name)) duplicates.add(node.name);
    else byName.set(node.name, node);
  }
  if (duplicates.size > 0) {
    const names = [...duplicates];
    return { ok: false, code: 'duplicate_node_names', message: `Node names must be unique in an n8n export; repeated: ${names.map((n) => `'${n}'`).join(', ')}.`, problems: names.map((n) => ({ pointer: `/workflow/nodes/${n}`, message: `node name '${n}' is used more than once` })) };
  }
  const connections: Connection[] = [];
  const subNodes = new Set<string>();
  const problems: ErrorDetail[] = [];
  for (const [from, byType] of Object.entries(workflow.connections)) {
    if (!byName.has(from)) problems.push({ pointer: `/workflow/connections/${from}`, message: `connection from unknown node '${from}'` });
    for (const [type, outs] of Object.entries(byType)) {
      outs.forEach((targets, output) => {
        for (const t of targets ?? []) {
          if (!byName.has(t.node)) problems.push({ pointer: `/workflow/connections/${from}`, message: `connection to unknown node '${t.node}'` });
          else if (type === 'main') connections.push({ from, output, to: t.node, input: t.index });
          else subNodes.add(from);
        }
      });
    }
  }
  if (problems.length > 0) return { ok: false, code: 'invalid_connections', message: 'The export\'s connections name nodes it does not have: see details.', problems };
  const cycle = findCycle([...byName.keys()], connections);
  if (cycle) {
    return { ok: false, code: 'cycle', message: `The export's connections loop (${cycle.join(' -> ')}); Conveyor workflows are acyclic: unroll the loop or move it into a child workflow.`, problems: [{ pointer: `/workflow/connections/${cycle[0]}`, message: `cycle: ${cycle.join(' -> ')}` }] };
  }
  return { ok: true, value: { workflow, byName, connections, subNodes } };
}

function findCycle(names: string[], connections: Connection[]): string[] | undefined {
  const next = new Map<string, string[]>(names.map((n) => [n, []]));
  for (const c of connections) next.get(c.from)!.push(c.to);
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const visit = (n: string): string[] | undefined => {
    state.set(n, 1);
    stack.push(n);
    for (const m of next.get(n)!) {
      if (state.get(m) === 1) return [...stack.slice(stack.indexOf(m)), m];
      if (!state.has(m)) {
        const found = visit(m);
        if (found) return found;
      }
    }
    stack.pop();
    state.set(n, 2);
    return undefined;
  };
  for (const n of names) {
    if (state.has(n)) continue;
    const found = visit(n);
    if (found) return found;
  }
  return undefined;
}

/** Topological order of the node names (export order among equals), for converting upstream first. */
export function topologicalOrder(names: string[], connections: Connection[]): string[] {
  const indegree = new Map(names.map((n) => [n, 0]));
  for (const c of connections) indegree.set(c.to, indegree.get(c.to)! + 1);
  const order: string[] = [];
  const ready = names.filter((n) => indegree.get(n) === 0);
  while (ready.length > 0) {
    const n = ready.shift()!;
    order.push(n);
    for (const c of connections) {
      if (c.from !== n) continue;
      const d = indegree.get(c.to)! - 1;
      indegree.set(c.to, d);
      if (d === 0) ready.push(c.to);
    }
  }
  return order;
}
