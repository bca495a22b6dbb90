import jsonata from 'jsonata';
import type { Json } from './providers/types.js';
import { hasTemplate, singleExpression, splitTemplate } from './templates.js';

/**
 * The evaluation half of expressions: JSONata over the node's scope, with JSONata's own
 * guardrails (time, stack depth, sequence length) and `$eval` replaced. It runs inside the
 * expression sandbox thread (lib/expression-thread.ts), which adds the limits JSONata cannot
 * enforce itself: built-ins that block (a catastrophic regex, `$distinct` over a huge array)
 * and memory.
 */
export interface ExpressionScope {
  input: Json;
  nodes: Record<string, { output: Json; status: string }>;
  run: { id: string; workflowId: string; attempt: number };
}

export interface EvalOptions {
  /** Named in error messages, with the param's pointer and the expression. */
  nodeId: string;
  /** Per evaluation (default EXPRESSION_TIMEOUT_MS). */
  timeoutMs?: number;
}

/** Told before each expression is evaluated: the sandbox's watchdog uses it. */
export type OnEvaluate = (where: string) => void;

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

/** Compiles (cached: workflows are immutable, so the same sources come back on every run). Throws JSONata's parse error. */
export function compile(source: string, timeoutMs = EXPRESSION_TIMEOUT_MS): Compiled {
  const key = `${timeoutMs}\u0000${source}`;
  let expr = compiled.get(key);
  if (!expr) {
    expr = jsonata(source, { timeout: timeoutMs, stack: MAX_STACK, sequence: MAX_SEQUENCE });
    expr.assign('eval', () => {
      throw new Error('$eval is not available in Conveyor expressions');
    });
    if (compiled.size >= MAX_COMPILED) compiled.delete(compiled.keys().next().value!);
    compiled.set(key, expr);
  }
  return expr;
}

interface JsonataFailure { code?: string; message?: string; position?: number }

export function describe(err: unknown): string {
  const e = err as JsonataFailure;
  const at = typeof e.position === 'number' ? ` at position ${e.position}` : '';
  return `${e.message ?? String(err)}${at}`;
}

/** `node 'x': /params/url: {{ input.id }}`: how every expression error starts. */
export const where = (nodeId: string, pointer: string, source: string) => `node '${nodeId}': ${pointer}: {{ ${source} }}`;

export const timeoutMessage = (at: string, timeoutMs: number) => `${at} ran longer than ${timeoutMs} ms`;

/** Resolves every template inside `value`, returning a copy; strings without `{{` stay as they are. */
export async function resolveTemplates(value: unknown, scope: ExpressionScope, pointer: string, opts: EvalOptions, onEvaluate?: OnEvaluate): Promise<unknown> {
  if (typeof value === 'string') return hasTemplate(value) ? resolveString(value, scope, pointer, opts, onEvaluate) : value;
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    // One at a time: the watchdog times one expression, not a crowd of them.
    for (const [i, v] of value.entries()) out.push(await resolveTemplates(v, scope, `${pointer}/${i}`, opts, onEvaluate));
    return out;
  }
  if (value && typeof value === 'object') {
    const entries: [string, unknown][] = [];
    for (const [k, v] of Object.entries(value)) entries.push([k, await resolveTemplates(v, scope, `${pointer}/${escapePointer(k)}`, opts, onEvaluate)]);
    return Object.fromEntries(entries);
  }
  return value;
}

/**
 * A node's `when`: a `{{ }}` template or a bare expression, cast to boolean the JSONata way
 * (empty string, 0, null, empty array or object: false). A missing field is simply false.
 */
export async function evaluateGuard(when: string, scope: ExpressionScope, opts: EvalOptions, onEvaluate?: OnEvaluate): Promise<boolean> {
  const source = guardSource(when);
  if (source === undefined) throw new ExpressionError('expression_error', `node '${opts.nodeId}': /when must be a single {{ expression }}`);
  return truthy(await evaluate(source, scope, '/when', opts, onEvaluate));
}

/** The expression a `when` holds: the one `{{ }}` it is, or the whole string; undefined for text around or between `{{ }}`. */
export function guardSource(when: string): string | undefined {
  return hasTemplate(when) ? singleExpression(splitTemplate(when)) : when;
}

async function resolveString(text: string, scope: ExpressionScope, pointer: string, opts: EvalOptions, onEvaluate?: OnEvaluate): Promise<unknown> {
  const parts = splitTemplate(text);
  const raw = singleExpression(parts);
  if (raw !== undefined) return required(await evaluate(raw, scope, pointer, opts, onEvaluate), raw, pointer, opts);
  let out = '';
  for (const part of parts) {
    if (part.kind === 'text') out += part.text;
    else {
      const v = required(await evaluate(part.source, scope, pointer, opts, onEvaluate), part.source, pointer, opts);
      out += typeof v === 'string' ? v : JSON.stringify(v);
    }
  }
  return out;
}

async function evaluate(source: string, scope: ExpressionScope, pointer: string, opts: EvalOptions, onEvaluate?: OnEvaluate): Promise<unknown> {
  const at = where(opts.nodeId, pointer, source);
  const timeoutMs = opts.timeoutMs ?? EXPRESSION_TIMEOUT_MS;
  let expr: Compiled;
  try {
    expr = compile(source, timeoutMs);
  } catch (err) {
    throw new ExpressionError('expression_error', `${at} does not parse: ${describe(err)}`);
  }
  onEvaluate?.(at);
  try {
    return normalise(await expr.evaluate(scope));
  } catch (err) {
    const code = (err as JsonataFailure).code;
    if (code === 'D1012') throw new ExpressionError('expression_timeout', timeoutMessage(at, timeoutMs));
    if (code === 'D1011') throw new ExpressionError('expression_error', `${at} recursed deeper than ${MAX_STACK} levels`);
    throw new ExpressionError('expression_error', `${at} failed: ${describe(err)}`);
  }
}

function required(value: unknown, source: string, pointer: string, opts: EvalOptions): unknown {
  if (value === undefined) {
    throw new ExpressionError(
      'expression_error',
      `${where(opts.nodeId, pointer, source)} evaluated to nothing: a missing node or field (check the name, or that the node is upstream and succeeded)`,
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

export const escapePointer = (key: string) => key.replace(/~/g, '~0').replace(/\//g, '~1');
