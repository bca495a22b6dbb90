import type { Database } from '../../db/database.js';
import { getVersion } from '../../db/workflows.js';
import { checkExpressions, checkGuard } from '../expressions.js';
import { ancestors, buildDag, type Dag } from '../workflows/dag.js';
import { definitionSchema, type NodeDefinition, type WorkflowDefinition } from '../workflows/definition.js';

/** A workflow version ready to execute: parsed once, kept while it is used (versions are immutable). */
export interface CompiledVersion {
  workflowId: string;
  version: number;
  definition: WorkflowDefinition;
  dag: Dag;
  nodes: ReadonlyMap<string, NodeDefinition>;
  /** Node ids each node's expressions reference: the only outputs its job loads. */
  references: ReadonlyMap<string, readonly string[]>;
}

export function compileVersion(workflowId: string, version: number, raw: unknown): CompiledVersion {
  const definition = definitionSchema.parse(raw);
  const nodes = new Map(definition.nodes.map((n) => [n.id, n]));
  const dag = buildDag([...nodes.keys()], definition.edges);
  const references = new Map(
    definition.nodes.map((n) => {
      const checks = [checkExpressions(n.params, '/params'), ...(n.when === undefined ? [] : [checkGuard(n.when, '/when')])];
      // A reference we cannot follow statically (`$keys(nodes)`) loads every upstream output.
      const refs = checks.some((c) => c.dynamic) ? ancestors(dag, n.id) : new Set(checks.flatMap((c) => [...c.referencedNodes]));
      return [n.id, [...refs]] as const;
    }),
  );
  return { workflowId, version, definition, dag, nodes, references };
}

const MAX_CACHED = 500;
const cache = new Map<string, Promise<CompiledVersion>>();

export function loadVersion(db: Database, workflowId: string, version: number): Promise<CompiledVersion> {
  const key = `${workflowId}@${version}`;
  let hit = cache.get(key);
  if (hit) {
    // Refresh recency: Map keeps insertion order, so the oldest entry is evicted first.
    cache.delete(key);
    cache.set(key, hit);
    return hit;
  }
  hit = getVersion(db, workflowId, version).then((row) => {
    if (!row) throw new Error(`workflow ${workflowId} version ${version} not found`);
    return compileVersion(workflowId, version, row.definition);
  });
  hit.catch(() => cache.delete(key));
  cache.set(key, hit);
  if (cache.size > MAX_CACHED) cache.delete(cache.keys().next().value!);
  return hit;
}
