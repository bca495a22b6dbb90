import jsonata from 'jsonata';
import type { ErrorDetail } from './errors.js';
import type { Json } from './providers/types.js';
import { TemplateSyntaxError, hasTemplate, singleExpression, splitTemplate } from './templates.js';

/**
 * Expressions: `{{ JSONata }}` inside string params and `when` guards, evaluated over
 * `{input, nodes: {<id>: {output, status}}, run}`. JSONata has no I/O, no globals and no way to
 * reach Node; `$eval` is replaced so a string cannot become code, and each evaluation is bounded
 * in time and stack depth by JSONata's own guardrails.
 */
export interface ExpressionScope {
  input: Json;
  nodes: Record<string, { output: Json; status: string }>;
  run: { id: string; workflowId: string; attempt: number };
}

export interface EvalOptions {
  /** Named in error messages, with the param's pointer and the expression. */
  nodeId: string;
  timeoutMs?: number;
}

export const EXPRESSION_TIMEOUT_MS = 100;
const MAX_STACK = 200;
const MAX_SEQUENCE = 100_000;

export class ExpressionError extends Error {
  constructor(readonly code: 'expression_error' | 'expression_timeout', message: string) {
    super(message);
    this.name = 'ExpressionError';
  }
}

type Compiled = ReturnType<typeof jsonata>;
const compiled = new Map<string, Compiled>();
const MAX_COMPILED = 5_000;

/** Compiles (cached: workflows are immutable, so the same sources come back on every run). */
function compile(source: string, timeoutMs: number): Compiled {
  const key = `${timeoutMs}\u0000${source}`;
  let expr = compiled.get(key);
  if (!expr) {
    expr = jsonata(source, { timeout: timeoutMs, stack: MAX_STACK, sequence: MAX_SEQUENCE } as never);
    expr.assign('eval', () => {
      throw new Error('$eval is not available in Conveyor expressions');
    });
    if (compiled.size >= MAX_COMPILED) compiled.delete(compiled.keys().next().value!);
    compiled.set(key, expr);
  }
  return expr;
}

interface JsonataFailure { code?: string; message?: string; position?: number }

function describe(err: unknown): string {
  const e = err as JsonataFailure;
  const at = typeof e.position === 'number' ? ` at position ${e.position}` : '';
  return `${e.message ?? String(err)}${at}`;
}

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
  /** Some reference to `nodes` could not be resolved statically (e.g. `$keys(nodes)`). */
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
    for (const part of parts) {
      if (part.kind !== 'expr') continue;
      try {
        collectReferences(compile(part.source, EXPRESSION_TIMEOUT_MS).ast(), result);
      } catch (err) {
        result.problems.push({ pointer: at, message: `expression {{ ${part.source} }} does not parse: ${describe(err)}` });
      }
    }
  });
  return result;
}

/** Resolves every template inside `value`, returning a copy; strings without `{{` stay as they are. */
export async function resolveTemplates(value: unknown, scope: ExpressionScope, pointer: string, opts: EvalOptions): Promise<unknown> {
  if (typeof value === 'string') return hasTemplate(value) ? resolveString(value, scope, pointer, opts) : value;
  if (Array.isArray(value)) return Promise.all(value.map((v, i) => resolveTemplates(v, scope, `${pointer}/${i}`, opts)));
  if (value && typeof value === 'object') {
    const entries = await Promise.all(
      Object.entries(value).map(async ([k, v]) => [k, await resolveTemplates(v, scope, `${pointer}/${escapePointer(k)}`, opts)] as const),
    );
    return Object.fromEntries(entries);
  }
  return value;
}

/**
 * A node's `when`: a `{{ }}` template or a bare expression, cast to boolean the JSONata way
 * (empty string, 0, null, empty array or object: false). A missing field is simply false.
 */
export async function evaluateGuard(when: string, scope: ExpressionScope, opts: EvalOptions): Promise<boolean> {
  const source = hasTemplate(when) ? singleExpression(splitTemplate(when)) : when;
  if (source === undefined) throw new ExpressionError('expression_error', `node '${opts.nodeId}': /when must be a single {{ expression }}`);
  return truthy(await evaluate(source, scope, '/when', opts));
}

async function resolveString(text: string, scope: ExpressionScope, pointer: string, opts: EvalOptions): Promise<unknown> {
  const parts = splitTemplate(text);
  const raw = singleExpression(parts);
  if (raw !== undefined) return required(await evaluate(raw, scope, pointer, opts), raw, pointer, opts);
  let out = '';
  for (const part of parts) {
    if (part.kind === 'text') out += part.text;
    else {
      const v = required(await evaluate(part.source, scope, pointer, opts), part.source, pointer, opts);
      out += typeof v === 'string' ? v : JSON.stringify(v);
    }
  }
  return out;
}

async function evaluate(source: string, scope: ExpressionScope, pointer: string, opts: EvalOptions): Promise<unknown> {
  const where = `node '${opts.nodeId}': ${pointer}: {{ ${source} }}`;
  let expr: Compiled;
  try {
    expr = compile(source, opts.timeoutMs ?? EXPRESSION_TIMEOUT_MS);
  } catch (err) {
    throw new ExpressionError('expression_error', `${where} does not parse: ${describe(err)}`);
  }
  try {
    return normalise(await expr.evaluate(scope));
  } catch (err) {
    const code = (err as JsonataFailure).code;
    if (code === 'D1012') throw new ExpressionError('expression_timeout', `${where} ran longer than ${opts.timeoutMs ?? EXPRESSION_TIMEOUT_MS} ms`);
    throw new ExpressionError('expression_error', `${where} failed: ${describe(err)}`);
  }
}

function required(value: unknown, source: string, pointer: string, opts: EvalOptions): unknown {
  if (value === undefined) {
    throw new ExpressionError(
      'expression_error',
      `node '${opts.nodeId}': ${pointer}: {{ ${source} }} evaluated to nothing: a missing node or field (check the name, or that the node is upstream and succeeded)`,
    );
  }
  return value;
}

/** JSONata sequences are arrays with extra flags; functions are not data. Plain JSON out. */
function normalise(value: unknown): unknown {
  if (value === undefined || typeof value === 'function') return undefined;
  if (Array.isArray(value)) return value.map((v) => normalise(v) ?? null);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).flatMap(([k, v]) => {
      const n = normalise(v);
      return n === undefined ? [] : [[k, n]];
    }));
  }
  return value;
}

function truthy(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(truthy);
  if (value && typeof value === 'object') return Object.keys(value).length > 0;
  return Boolean(value);
}

function walkStrings(value: unknown, pointer: string, visit: (text: string, pointer: string) => void): void {
  if (typeof value === 'string') {
    if (hasTemplate(value)) visit(value, pointer);
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => walkStrings(v, `${pointer}/${i}`, visit));
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) walkStrings(v, `${pointer}/${escapePointer(k)}`, visit);
  }
}

const escapePointer = (key: string) => key.replace(/~/g, '~0').replace(/\//g, '~1');

interface AstNode { type?: string; value?: unknown; steps?: AstNode[]; [k: string]: unknown }

/** Finds `nodes.<id>` (also `$$.nodes.<id>`) in a JSONata AST; anything vaguer marks the check dynamic. */
function collectReferences(ast: unknown, into: ExpressionCheck): void {
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (!node || typeof node !== 'object') return;
    const n = node as AstNode;
    if (n.type === 'path' && Array.isArray(n.steps)) {
      const rooted = n.steps[0]?.type === 'variable' && (n.steps[0].value === '$' || n.steps[0].value === '');
      const steps = rooted ? n.steps.slice(1) : n.steps;
      if (steps[0]?.type === 'name' && steps[0].value === 'nodes') {
        const id = steps[1];
        if (id?.type === 'name' && typeof id.value === 'string' && !steps[0].stages) into.referencedNodes.add(id.value);
        else into.dynamic = true;
      } else if (rooted && steps.length === 0) {
        into.dynamic = true;
      }
      for (const [key, child] of Object.entries(n)) if (key !== 'position') visit(key === 'steps' ? steps : child);
      return;
    }
    // `$$` on its own hands the whole scope to something we cannot follow.
    if (n.type === 'variable' && n.value === '$') into.dynamic = true;
    for (const [key, child] of Object.entries(n)) if (key !== 'position') visit(child);
  };
  visit(ast);
}
