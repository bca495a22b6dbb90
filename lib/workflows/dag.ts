/**
 * The graph of a workflow: predecessors and successors of each node, roots (no predecessors),
 * sinks (no successors) and a topological order. Built once per workflow version and cached.
 */
export interface Dag {
  nodeIds: readonly string[];
  preds: ReadonlyMap<string, readonly string[]>;
  succs: ReadonlyMap<string, readonly string[]>;
  roots: readonly string[];
  sinks: readonly string[];
}

export function buildDag(nodeIds: readonly string[], edges: readonly { from: string; to: string }[]): Dag {
  const preds = new Map<string, string[]>(nodeIds.map((id) => [id, []]));
  const succs = new Map<string, string[]>(nodeIds.map((id) => [id, []]));
  for (const { from, to } of edges) {
    const p = preds.get(to);
    const s = succs.get(from);
    // Edges to unknown nodes are reported by validation; the graph ignores them.
    if (!p || !s || p.includes(from)) continue;
    p.push(from);
    s.push(to);
  }
  return {
    nodeIds,
    preds,
    succs,
    roots: nodeIds.filter((id) => preds.get(id)!.length === 0),
    sinks: nodeIds.filter((id) => succs.get(id)!.length === 0),
  };
}

/** One cycle's nodes in order (first repeated at the end), or undefined when the graph is acyclic. */
export function findCycle(dag: Dag): string[] | undefined {
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (id: string): string[] | undefined => {
    state.set(id, 'visiting');
    stack.push(id);
    for (const next of dag.succs.get(id) ?? []) {
      const s = state.get(next);
      if (s === 'visiting') return [...stack.slice(stack.indexOf(next)), next];
      if (s === undefined) {
        const found = visit(next);
        if (found) return found;
      }
    }
    stack.pop();
    state.set(id, 'done');
    return undefined;
  };
  for (const id of dag.nodeIds) {
    if (state.has(id)) continue;
    const found = visit(id);
    if (found) return found;
  }
  return undefined;
}

/** Every node upstream of `id` (transitively). */
export function ancestors(dag: Dag, id: string): Set<string> {
  const seen = new Set<string>();
  const todo = [...(dag.preds.get(id) ?? [])];
  while (todo.length > 0) {
    const next = todo.pop()!;
    if (seen.has(next)) continue;
    seen.add(next);
    todo.push(...(dag.preds.get(next) ?? []));
  }
  return seen;
}
