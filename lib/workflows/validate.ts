import type { ErrorDetail } from '../errors.js';
import { checkExpressions, checkGuard, hasExpressions } from '../expressions.js';
import { splitTemplate } from '../templates.js';
import type { ProviderRegistry } from '../providers/registry.js';
import { ancestors, buildDag, findCycle } from './dag.js';
import { MAX_EXPRESSION_LENGTH, definitionSchema, type WorkflowDefinition } from './definition.js';

export type ValidationResult =
  | { ok: true; definition: WorkflowDefinition }
  | { ok: false; problems: ErrorDetail[] };

const pointerOf = (path: readonly PropertyKey[]) =>
  path.map((p) => `/${String(p).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');

/**
 * Checks a workflow definition and lists every problem at once, each with a JSON pointer:
 * shape, duplicate ids, unknown types and edge endpoints, cycles, static params against the
 * provider's schema, expressions that do not parse or reference nodes not upstream.
 */
export function validateWorkflow(body: unknown, registry: ProviderRegistry): ValidationResult {
  const parsed = definitionSchema.safeParse(body);
  if (!parsed.success) {
    return { ok: false, problems: parsed.error.issues.map((i) => ({ pointer: pointerOf(i.path) || '/', message: i.message })) };
  }
  const def = parsed.data;
  const problems: ErrorDetail[] = [];
  const seen = new Map<string, number>();
  def.nodes.forEach((node, i) => {
    const first = seen.get(node.id);
    if (first !== undefined) problems.push({ pointer: `/nodes/${i}/id`, message: `duplicate node id '${node.id}' (first at /nodes/${first})` });
    else seen.set(node.id, i);
  });
  def.edges.forEach((edge, i) => {
    if (!seen.has(edge.from)) problems.push({ pointer: `/edges/${i}/from`, message: `unknown node '${edge.from}'` });
    if (!seen.has(edge.to)) problems.push({ pointer: `/edges/${i}/to`, message: `unknown node '${edge.to}'` });
    if (edge.from === edge.to) problems.push({ pointer: `/edges/${i}`, message: `node '${edge.from}' has an edge to itself` });
  });
  const dag = buildDag([...seen.keys()], def.edges);
  const cycle = findCycle(dag);
  if (cycle && cycle.length > 2) problems.push({ pointer: '/edges', message: `cycle: ${cycle.join(' -> ')}` });

  def.nodes.forEach((node, i) => {
    const at = `/nodes/${i}`;
    const provider = registry.get(node.type);
    if (!provider) {
      const known = registry.list().map((p) => p.type).join(', ');
      problems.push({ pointer: `${at}/type`, message: `unknown node type '${node.type}' (known: ${known})` });
    } else {
      problems.push(...staticParamProblems(provider.params, node.params, `${at}/params`));
      if (node.credential && !provider.credential?.length) {
        problems.push({ pointer: `${at}/credential`, message: `node type '${node.type}' takes no credential` });
      }
    }
    // ancestors() tolerates cycles, so a cycle elsewhere does not hide these problems.
    const upstream = ancestors(dag, node.id);
    const checks = [
      { pointer: `${at}/params`, check: () => checkExpressions(node.params, `${at}/params`), value: node.params as unknown },
      { pointer: `${at}/when`, check: () => checkGuard(node.when!, `${at}/when`), value: node.when as unknown },
    ];
    for (const { pointer, check, value } of checks) {
      if (value === undefined) continue;
      // Parsing a huge expression can exhaust the parser's stack: refuse it before trying.
      const oversized = oversizedExpressions(value, pointer);
      if (oversized.length > 0) {
        problems.push(...oversized);
        continue;
      }
      const { problems: exprProblems, referencedNodes } = check();
      problems.push(...exprProblems);
      for (const ref of referencedNodes) {
        if (!seen.has(ref)) problems.push({ pointer, message: `expression references unknown node '${ref}'` });
        else if (!upstream.has(ref)) {
          problems.push({ pointer, message: `expression references node '${ref}', which is not upstream of '${node.id}': add an edge path from it` });
        }
      }
    }
  });
  return problems.length > 0 ? { ok: false, problems } : { ok: true, definition: def };
}

/** Validates the params that hold no expression; values with `{{ }}` are checked after resolution. */
function staticParamProblems(schema: import('zod').ZodType, params: Record<string, unknown>, pointer: string): ErrorDetail[] {
  const result = schema.safeParse(params);
  if (result.success) return [];
  return result.error.issues
    .filter((issue) => {
      const key = issue.path[0];
      return key === undefined ? !hasExpressions(params) : !hasExpressions(params[String(key)]);
    })
    .map((issue) => ({ pointer: `${pointer}${pointerOf(issue.path)}`, message: issue.message }));
}

/** Strings holding an expression longer than MAX_EXPRESSION_LENGTH characters. */
function oversizedExpressions(value: unknown, pointer: string): ErrorDetail[] {
  if (typeof value === 'string') {
    if (!value.includes('{{')) return value.length > MAX_EXPRESSION_LENGTH && pointer.endsWith('/when') ? [tooLong(pointer)] : [];
    let parts;
    try {
      parts = splitTemplate(value);
    } catch {
      return [];
    }
    return parts.some((p) => p.kind === 'expr' && p.source.length > MAX_EXPRESSION_LENGTH) ? [tooLong(pointer)] : [];
  }
  if (Array.isArray(value)) return value.flatMap((v, i) => oversizedExpressions(v, `${pointer}/${i}`));
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => oversizedExpressions(v, `${pointer}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`));
  return [];
}

const tooLong = (pointer: string): ErrorDetail => ({ pointer, message: `an expression is at most ${MAX_EXPRESSION_LENGTH} characters` });
