import type { ErrorDetail } from './errors.js';
import {
  EXPRESSION_BUDGET_MS,
  EXPRESSION_TIMEOUT_MS,
  ExpressionError,
  compile,
  describe,
  escapePointer,
  guardSource,
  type EvalOptions,
  type ExpressionScope,
} from './expression-eval.js';
import { SandboxPool } from './expression-pool.js';
import { NOT_INLINE, resolveInline } from './inline-expressions.js';
import { TemplateSyntaxError, hasTemplate, splitTemplate } from './templates.js';

/**
 * Expressions: `{{ JSONata }}` inside string params and `when` guards, evaluated over
 * `{input, nodes: {<id>: {output, status}}, run}`. JSONata has no I/O, no globals and no way to
 * reach Node; `$eval` is replaced so a string cannot become code. Evaluation runs in a small pool
 * of worker threads with a memory cap (lib/expression-pool.ts): JSONata's guardrails stop loops
 * and deep recursion after `timeoutMs`, a watchdog terminates a thread whose built-in blocks past
 * it (a catastrophic regex, `$distinct` over 100k items), a node's expressions share a time
 * budget and a size cap checked inside the thread, and nodes interleave expression by
 * expression — so no expression can stall, bloat or crash the worker process, nor make other
 * runs wait long. Parsing (checkExpressions) stays on the calling thread.
 */
export { EXPRESSION_BUDGET_MS, EXPRESSION_TIMEOUT_MS, ExpressionError, type EvalOptions, type ExpressionScope };


/** True when `value` (any JSON) holds a `{{ }}` somewhere. */
export function hasExpressions(value: unknown): boolean {
  if (typeof value === 'string') return hasTemplate(value);
  if (Array.isArray(value)) return value.some(hasExpressions);
  if (value && typeof value === 'object') return Object.values(value).some(hasExpressions);
  return false;
}

export interface ExpressionCheck {
  problems: ErrorDetail[];
  /** Node ids referenced as `nodes.<id>`: the outputs a node's job loads. */
  referencedNodes: Set<string>;
  /** Some reference to `nodes` could not be resolved statically (e.g. `$keys(nodes)`, `**`). */
  dynamic: boolean;
}

/** Parses every expression inside `value` without evaluating; lists problems with pointers. */
export function checkExpressions(value: unknown, pointer: string): ExpressionCheck {
  const result: ExpressionCheck = { problems: [], referencedNodes: new Set(), dynamic: false };
  walkStrings(value, pointer, (text, at) => {
    let parts;
    try {
      parts = splitTemplate(text);
    } catch (err) {
      if (err instanceof TemplateSyntaxError) return void result.problems.push({ pointer: at, message: err.message });
      throw err;
    }
    for (const part of parts) if (part.kind === 'expr') checkSource(part.source, at, result);
  });
  return result;
}

/**
 * Like checkExpressions for a node's `when`, which may also be a bare expression (no `{{ }}`)
 * and must be a single one.
 */
export function checkGuard(when: string, pointer: string): ExpressionCheck {
  const result: ExpressionCheck = { problems: [], referencedNodes: new Set(), dynamic: false };
  let source: string | undefined;
  try {
    source = guardSource(when);
  } catch (err) {
    if (err instanceof TemplateSyntaxError) return { ...result, problems: [{ pointer, message: err.message }] };
    throw err;
  }
  if (source === undefined) result.problems.push({ pointer, message: 'a when guard must be a single {{ expression }} (or a bare expression)' });
  else checkSource(source, pointer, result);
  return result;
}

function checkSource(source: string, pointer: string, into: ExpressionCheck): void {
  try {
    collectReferences(compile(source).ast(), into);
  } catch (err) {
    into.problems.push({ pointer, message: `expression {{ ${source} }} does not parse: ${describe(err)}` });
  }
}

/**
 * Resolves every template inside `value`, returning a copy; strings without `{{` stay as they are.
 * `signal` abandons the evaluation (the node's timeout, a cancel).
 */
export async function resolveTemplates(value: unknown, scope: ExpressionScope, pointer: string, opts: EvalOptions, signal?: AbortSignal): Promise<unknown> {
  if (!hasExpressions(value)) return value;
  const inline = resolveInline(value, scope);
  if (inline !== NOT_INLINE) return inline;
  return sandbox.run({ op: 'resolve', value, scope, pointer, opts }, signal);
}

/**
 * A node's `when`: a `{{ }}` template or a bare expression, cast to boolean the JSONata way
 * (empty string, 0, null, empty array or object: false). A missing field is simply false.
 */
export async function evaluateGuard(when: string, scope: ExpressionScope, opts: EvalOptions, signal?: AbortSignal): Promise<boolean> {
  return sandbox.run({ op: 'guard', when, scope, opts }, signal) as Promise<boolean>;
}

const sandbox = new SandboxPool();

function walkStrings(value: unknown, pointer: string, visit: (text: string, pointer: string) => void): void {
  if (typeof value === 'string') {
    if (hasTemplate(value)) visit(value, pointer);
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => walkStrings(v, `${pointer}/${i}`, visit));
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) walkStrings(v, `${pointer}/${escapePointer(k)}`, visit);
  }
}

interface AstNode { type?: string; value?: unknown; steps?: AstNode[]; arguments?: unknown[]; procedure?: AstNode; [k: string]: unknown }

/** Keys of an AST node evaluated against each item rather than the context the node sees. */
const PER_ITEM = new Set(['stages', 'predicate', 'group']);
/** Functions that take no input from the context when called with no arguments. */
const CONTEXT_FREE = new Set(['now', 'millis', 'random']);

/**
 * Finds `nodes.<id>` (also `$$.nodes.<id>`) in a JSONata AST. Anything that could read the
 * scope's root without naming a node (`$keys(nodes)`, `**`, `*`, `%`, a bare `$` or `$$`,
 * `$string()`) marks the check dynamic: the job then loads every upstream output.
 * `atRoot`: the context at this point is the scope itself (not an item of a path or filter).
 */
function collectReferences(ast: unknown, into: ExpressionCheck): void {
  const visit = (node: unknown, atRoot: boolean): void => {
    if (Array.isArray(node)) return node.forEach((n) => visit(n, atRoot));
    if (!node || typeof node !== 'object') return;
    const n = node as AstNode;
    if (n.type === 'parent') into.dynamic = true;
    if (n.type === 'variable' && (n.value === '$' || (n.value === '' && atRoot))) into.dynamic = true;
    if ((n.type === 'wildcard' || n.type === 'descendant') && atRoot) into.dynamic = true;
    if (n.type === 'function' && atRoot && n.arguments?.length === 0 && !CONTEXT_FREE.has(String(n.procedure?.value))) into.dynamic = true;
    if (n.type === 'path' && Array.isArray(n.steps)) return visitPath(n, n.steps, atRoot);
    for (const [key, child] of Object.entries(n)) if (key !== 'position') visit(child, atRoot && !PER_ITEM.has(key));
  };
  const visitPath = (n: AstNode, all: AstNode[], atRoot: boolean): void => {
    const first = all[0];
    const rooted = first?.type === 'variable' && (first.value === '$' || first.value === '');
    const root = rooted ? first.value === '$' || atRoot : atRoot;
    const steps = rooted ? all.slice(1) : all;
    if (root && steps[0]?.type === 'name' && steps[0].value === 'nodes') {
      const id = steps[1];
      if (id?.type === 'name' && typeof id.value === 'string' && !steps[0].stages && !steps[0].group) into.referencedNodes.add(id.value);
      else into.dynamic = true;
    } else if (root && rooted && steps.length === 0) {
      into.dynamic = true;
    }
    // The first step sees the path's context; later steps see the items of the one before.
    steps.forEach((step, i) => visit(step, root && i === 0));
    for (const [key, child] of Object.entries(n)) if (key !== 'position' && key !== 'steps') visit(child, false);
  };
  visit(ast, true);
}
