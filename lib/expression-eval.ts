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
  /** Per expression (default EXPRESSION_TIMEOUT_MS). */
  timeoutMs?: number;
  /**
   * Evaluation time all of one request's expressions may take together (default
   * EXPRESSION_BUDGET_MS): a node with a thousand cheap expressions is stopped like one slow one.
   */
  budgetMs?: number;
  /** Size all of one request's expression results may reach together (default EXPRESSION_MAX_BYTES). */
  maxBytes?: number;
}

/**
 * Told around each expression: the sandbox thread marks the expression for its watchdog
 * before, and after lets other requests' expressions run (so nodes interleave, one expression
 * at a time, rather than queue whole).
 */
export interface EvalHooks {
  before?(where: string): void;
  after?(): void | Promise<void>;
}

export const EXPRESSION_TIMEOUT_MS = 100;
export const EXPRESSION_BUDGET_MS = 1_000;
/** Far above any real node's params, far below what could hurt a worker. */
export const EXPRESSION_MAX_BYTES = 16 * 1024 * 1024;
const MAX_STACK = 200;
const MAX_SEQUENCE = 100_000;

export class ExpressionError extends Error {
  constructor(readonly code: 'expression_error' | 'expression_timeout' | 'output_too_large', message: string) {
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
export function resolveTemplates(value: unknown, scope: ExpressionScope, pointer: string, opts: EvalOptions, hooks: EvalHooks = {}): Promise<unknown> {
  return resolveValue(value, scope, pointer, new Meter(opts, hooks));
}

async function resolveValue(value: unknown, scope: ExpressionScope, pointer: string, m: Meter): Promise<unknown> {
  if (typeof value === 'string') return hasTemplate(value) ? resolveString(value, scope, pointer, m) : value;
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    // One at a time: the watchdog times one expression, not a crowd of them.
    for (const [i, v] of value.entries()) out.push(await resolveValue(v, scope, `${pointer}/${i}`, m));
    return out;
  }
  if (value && typeof value === 'object') {
    const entries: [string, unknown][] = [];
    for (const [k, v] of Object.entries(value)) entries.push([k, await resolveValue(v, scope, `${pointer}/${escapePointer(k)}`, m)]);
    return Object.fromEntries(entries);
  }
  return value;
}

/**
 * A node's `when`: a `{{ }}` template or a bare expression, cast to boolean the JSONata way
 * (empty string, 0, null, empty array or object: false). A missing field is simply false.
 */
export async function evaluateGuard(when: string, scope: ExpressionScope, opts: EvalOptions, hooks: EvalHooks = {}): Promise<boolean> {
  const source = guardSource(when);
  if (source === undefined) throw new ExpressionError('expression_error', `node '${opts.nodeId}': /when must be a single {{ expression }}`);
  return truthy(await evaluate(source, scope, '/when', new Meter(opts, hooks)));
}

/** The expression a `when` holds: the one `{{ }}` it is, or the whole string; undefined for text around or between `{{ }}`. */
export function guardSource(when: string): string | undefined {
  return hasTemplate(when) ? singleExpression(splitTemplate(when)) : when;
}

async function resolveString(text: string, scope: ExpressionScope, pointer: string, m: Meter): Promise<unknown> {
  const opts = m.opts;
  const parts = splitTemplate(text);
  const raw = singleExpression(parts);
  if (raw !== undefined) return required(await evaluate(raw, scope, pointer, m), raw, pointer, opts);
  let out = '';
  for (const part of parts) {
    if (part.kind === 'text') out += part.text;
    else {
      const v = required(await evaluate(part.source, scope, pointer, m), part.source, pointer, opts);
      out += typeof v === 'string' ? v : JSON.stringify(v);
    }
  }
  return out;
}

async function evaluate(source: string, scope: ExpressionScope, pointer: string, m: Meter): Promise<unknown> {
  const at = where(m.opts.nodeId, pointer, source);
  const timeoutMs = m.opts.timeoutMs ?? EXPRESSION_TIMEOUT_MS;
  let expr: Compiled;
  try {
    expr = compile(source, timeoutMs);
  } catch (err) {
    throw new ExpressionError('expression_error', `${at} does not parse: ${describe(err)}`);
  }
  m.start(at);
  let value: unknown;
  try {
    value = normalise(await expr.evaluate(scope));
  } catch (err) {
    const code = (err as JsonataFailure).code;
    if (code === 'D1012') throw new ExpressionError('expression_timeout', timeoutMessage(at, timeoutMs));
    if (code === 'D1011') throw new ExpressionError('expression_error', `${at} recursed deeper than ${MAX_STACK} levels`);
    throw new ExpressionError('expression_error', `${at} failed: ${describe(err)}`);
  } finally {
    await m.stop();
  }
  m.count(value, at);
  return value;
}

/**
 * One request's spend: evaluation time against its budget, result size against its cap. Sizes
 * are measured here, where the value was made, before anything copies or serialises it: a
 * 450-million-character string costs V8 little until it is flattened, and a lot after.
 */
class Meter {
  private ms = 0;
  private bytes = 0;
  private since = 0;
  readonly budgetMs: number;
  readonly maxBytes: number;

  constructor(readonly opts: EvalOptions, private readonly hooks: EvalHooks) {
    this.budgetMs = opts.budgetMs ?? EXPRESSION_BUDGET_MS;
    this.maxBytes = opts.maxBytes ?? EXPRESSION_MAX_BYTES;
  }

  start(at: string): void {
    if (this.ms > this.budgetMs) {
      throw new ExpressionError('expression_timeout', `node '${this.opts.nodeId}': its expressions ran ${Math.round(this.ms)} ms, past their budget of ${this.budgetMs} ms (stopped before ${at.slice(at.indexOf(': ') + 2)})`);
    }
    this.hooks.before?.(at);
    this.since = performance.now();
  }

  async stop(): Promise<void> {
    this.ms += performance.now() - this.since;
    await this.hooks.after?.();
  }

  count(value: unknown, at: string): void {
    this.bytes = sizeWithin(value, this.maxBytes - this.bytes, this.bytes);
    if (this.bytes > this.maxBytes) {
      throw new ExpressionError('output_too_large', `${at}: the expressions' results reached more than ${this.maxBytes} bytes, the most a node's expressions may produce`);
    }
  }
}

/**
 * `used` plus an estimate of `value`'s JSON size (string lengths, 8 a scalar), walked without
 * flattening a string or recursing, and given up as soon as it passes `room`.
 */
function sizeWithin(value: unknown, room: number, used: number): number {
  let size = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0 && size <= room) {
    const v = stack.pop();
    if (typeof v === 'string') size += v.length + 2;
    else if (Array.isArray(v)) {
      size += 2 + v.length;
      for (const item of v) stack.push(item);
    } else if (v && typeof v === 'object') {
      for (const [k, item] of Object.entries(v)) {
        size += k.length + 4;
        stack.push(item);
      }
    } else size += 8;
  }
  return used + size;
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
