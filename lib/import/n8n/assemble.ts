import type { ErrorDetail } from '../../errors.js';
import type { NodeDefinition, WorkflowDefinition } from '../../workflows/definition.js';
import { validateWorkflow } from '../../workflows/validate.js';
import type { Connection } from './export.js';
import type { ConvertOptions, ImportReport, NodeState } from './types.js';

/** Edges between converted nodes, and a `when` guard on each node a branch (IF, Switch) leads to. */
export function assemble(nodes: NodeDefinition[], connections: Connection[], state: Map<string, NodeState>, name: string, n8nName: string | undefined, report: ImportReport): WorkflowDefinition {
  const present = new Set(nodes.map((n) => n.id));
  const edges: { from: string; to: string }[] = [];
  const seen = new Set<string>();
  const terms = new Map<string, string[]>();
  const guarded = new Set<string>();
  for (const c of connections) {
    const from = state.get(c.from);
    const to = state.get(c.to);
    if (from?.kind !== 'node' || to?.kind !== 'node' || !present.has(from.id) || !present.has(to.id)) continue;
    const key = `${from.id}->${to.id}`;
    if (!seen.has(key)) {
      seen.add(key);
      edges.push({ from: from.id, to: to.id });
    }
    const term = from.branch
      ? from.branch.allMatching ? `${c.output} in nodes.${from.id}.output.branches` : `nodes.${from.id}.output.branch = ${c.output}`
      : `nodes.${from.id}.status = "succeeded"`;
    const list = terms.get(to.id) ?? [];
    if (!list.includes(term)) list.push(term);
    terms.set(to.id, list);
    if (from.branch) guarded.add(to.id);
  }
  for (const node of nodes) {
    if (guarded.has(node.id)) node.when = `{{ ${terms.get(node.id)!.join(' or ')} }}`;
  }
  return {
    name,
    ...(n8nName ? { description: `Imported from the n8n workflow '${n8nName.slice(0, 200)}'` } : {}),
    nodes,
    edges,
    ...(report.webhook ? { webhook: { path: report.webhook.path } } : {}),
  };
}

/**
 * The definition checked as a save checks it (types known here, params, expressions). Problems
 * are reported against the n8n node; with allowPartial the node becomes a placeholder instead.
 */
export function checkSaved(definition: WorkflowDefinition, opts: ConvertOptions, n8nNameOf: Map<string, string>, report: ImportReport): ErrorDetail[] {
  for (let round = 0; round < 3; round++) {
    const result = validateWorkflow(definition, opts.registry!);
    if (result.ok) return [];
    const byNode = new Map<number, string[]>();
    const other: ErrorDetail[] = [];
    for (const p of result.problems) {
      const m = /^\/nodes\/(\d+)/.exec(p.pointer ?? '');
      if (m) byNode.set(Number(m[1]), [...(byNode.get(Number(m[1])) ?? []), `${p.message} (at ${p.pointer})`]);
      else other.push(p);
    }
    if (!opts.allowPartial || other.length > 0) {
      return [
        ...[...byNode].map(([i, messages]) => {
          const n8nName = n8nNameOf.get(definition.nodes[i]!.id) ?? definition.nodes[i]!.id;
          return { pointer: `/nodes/${n8nName}`, message: `node '${n8nName}': ${messages.join('; ')}` };
        }),
        ...other,
      ];
    }
    for (const [i, messages] of byNode) {
      const node = definition.nodes[i]!;
      const n8nName = n8nNameOf.get(node.id) ?? node.id;
      const reason = `not accepted by this server: ${messages.join('; ')}`;
      definition.nodes[i] = { id: node.id, type: 'noop', params: { placeholder: true, n8nType: report.nodes.find((n) => n.n8nName === n8nName)?.n8nType ?? node.type, reason }, ...(node.when ? { when: node.when } : {}) };
      const entry = report.nodes.find((n) => n.nodeId === node.id);
      if (entry) Object.assign(entry, { outcome: 'placeholder', type: 'noop', reason });
      report.warnings.push(`'${n8nName}' is a placeholder: ${reason}`);
    }
  }
  return [{ pointer: '/nodes', message: 'the converted workflow does not validate' }];
}
