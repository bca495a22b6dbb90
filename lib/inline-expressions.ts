import { compile, type ExpressionScope } from './expression-eval.js';
import { hasTemplate, singleExpression, splitTemplate } from './templates.js';

/**
 * The expressions that need no sandbox: a plain path of names (`input.order.id`,
 * `nodes.fetch.output.body`) through objects to a value that is not an array. Most params are
 * exactly that. Evaluated here, with the result JSONata gives (a property test holds the two
 * together), they cost a node no round trip to a sandbox thread and no copy of its scope. Anything
 * else — a predicate, a function, an operator, an array on the way or at the end, a missing field
 * (whose error the sandbox words) — is left to the sandbox.
 */
export const NOT_INLINE: unique symbol = Symbol('not inline');

const paths = new Map<string, readonly string[] | null>();
const MAX_PATHS = 5_000;

/** `value` with its templates resolved, or NOT_INLINE when any of them needs the sandbox. */
export function resolveInline(value: unknown, scope: ExpressionScope): unknown {
  if (typeof value === 'string') return hasTemplate(value) ? resolveString(value, scope) : value;
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (const v of value) {
      const r = resolveInline(v, scope);
      if (r === NOT_INLINE) return NOT_INLINE;
      out.push(r);
    }
    return out;
  }
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const r = resolveInline(v, scope);
      if (r === NOT_INLINE) return NOT_INLINE;
      Object.defineProperty(out, k, { value: r, enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return value;
}

function resolveString(text: string, scope: ExpressionScope): unknown {
  let parts;
  try {
    parts = splitTemplate(text);
  } catch {
    return NOT_INLINE;
  }
  const raw = singleExpression(parts);
  if (raw !== undefined) return evaluatePath(raw, scope);
  let out = '';
  for (const part of parts) {
    if (part.kind === 'text') out += part.text;
    else {
      const v = evaluatePath(part.source, scope);
      if (v === NOT_INLINE) return NOT_INLINE;
      out += typeof v === 'string' ? v : JSON.stringify(v);
    }
  }
  return out;
}

function evaluatePath(source: string, scope: ExpressionScope): unknown {
  const names = pathOf(source);
  if (!names) return NOT_INLINE;
  let current: unknown = scope;
  for (const name of names) {
    if (current === null || typeof current !== 'object' || Array.isArray(current) || !Object.hasOwn(current, name)) return NOT_INLINE;
    current = (current as Record<string, unknown>)[name];
  }
  if (current === undefined || Array.isArray(current)) return NOT_INLINE;
  return current;
}

/** The names of a plain path expression, or null for anything else. */
function pathOf(source: string): readonly string[] | null {
  let names = paths.get(source);
  if (names !== undefined) return names;
  names = null;
  try {
    const ast = compile(source).ast() as { type?: string; steps?: Record<string, unknown>[]; [k: string]: unknown };
    const plain = ast.type === 'path' && Object.keys(ast).every((k) => k === 'type' || k === 'steps' || k === 'position');
    const steps = ast.steps ?? [];
    if (plain && steps.length > 0 && steps.every((s) => s.type === 'name' && typeof s.value === 'string' && Object.keys(s).every((k) => k === 'type' || k === 'value' || k === 'position'))) {
      names = steps.map((s) => s.value as string);
    }
  } catch {
    names = null;
  }
  if (paths.size >= MAX_PATHS) paths.delete(paths.keys().next().value!);
  paths.set(source, names);
  return names;
}
