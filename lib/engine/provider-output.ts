import type { Json } from '../providers/types.js';
import { NodeError } from './node-errors.js';

/**
 * A provider's output as JSON, or `invalid_output` naming where it is not: a plugin is plain
 * JavaScript, and JSON.stringify would silently drop a function, turn NaN into null or a Map
 * into {} (a cycle is refused when the output is serialised). `undefined` at the top (a `run` that returns nothing) is null; a value with a
 * `toJSON` (a Date) is what that gives. Iterative, so a deep value cannot overflow the stack.
 */
export function asJsonOutput(value: unknown): Json {
  if (value === undefined) return null;
  const seen = new Set<object>();
  const pending: [value: unknown, path: string][] = [[value, '']];
  while (pending.length > 0) {
    const [v, path] = pending.pop()!;
    const problem = notJson(v);
    if (problem) throw new NodeError('invalid_output', `the provider returned a value that is not JSON: ${problem} at ${path || '/'}`);
    if (v === null || typeof v !== 'object' || typeof (v as { toJSON?: unknown }).toJSON === 'function') continue;
    // Shared values are walked once; a cycle is refused later, by JSON.stringify in checkOutput.
    if (seen.has(v)) continue;
    seen.add(v);
    for (const [k, item] of Object.entries(v)) pending.push([item, `${path}/${k}`]);
  }
  return value as Json;
}

function notJson(v: unknown): string | undefined {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return undefined;
    case 'number':
      return Number.isFinite(v) ? undefined : String(v);
    case 'object': {
      if (v === null || Array.isArray(v) || typeof (v as { toJSON?: unknown }).toJSON === 'function') return undefined;
      const proto = Object.getPrototypeOf(v);
      return proto === Object.prototype || proto === null ? undefined : `a ${proto?.constructor?.name ?? 'class'} instance`;
    }
    default:
      return v === undefined ? 'undefined' : `a ${typeof v}`; // inside a value; a function, symbol, bigint
  }
}
