import { AppError, badRequest } from './errors.js';

/**
 * The one check every JSON value passes where it enters Conveyor, before it is stored as jsonb:
 * the API's body middleware (run inputs, workflow definitions, signal payloads, everything under
 * /v1), webhooks (lib/webhooks/input.ts), and workflow imports (n8n) when they exist — an import
 * must call `assertStorable` on what it parsed too. The rule is "stored as sent, or refused":
 *
 * - NUL (\u0000) and unpaired UTF-16 surrogates: PostgreSQL's jsonb refuses them.
 * - Non-finite numbers: `JSON.parse('1e400')` is Infinity (and `-1e400` -Infinity), which
 *   `JSON.stringify` writes as `null`, so the value would be silently replaced. NaN cannot come
 *   out of JSON.parse. Every finite double is kept as sent: jsonb stores numbers as `numeric`,
 *   which holds 1.7976931348623157e308 or 5e-324 exactly, and JSON.stringify writes the shortest
 *   form that reads back as the same double, so 0.1 stays 0.1.
 * - Nesting deeper than MAX_JSON_DEPTH: bounds every recursive walk after this one.
 *
 * Not caught (JSON.parse has already rounded them by the time we see the value): integers beyond
 * 2^53 lose digits and magnitudes under ~5e-324 become 0.
 */
export const MAX_JSON_DEPTH = 64;

export type UnstorableCode = 'nul_character' | 'invalid_unicode' | 'number_out_of_range' | 'too_deep';

export interface Unstorable {
  code: UnstorableCode;
  /** RFC 6901 pointer; '' is the whole value. */
  pointer: string;
  message: string;
}

const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

export const escapePointer = (key: string) => key.replace(/~/g, '~0').replace(/\//g, '~1');
const where = (pointer: string) => (pointer === '' ? 'the top level' : pointer);

function checkString(s: string, pointer: string): Unstorable | undefined {
  if (s.includes('\u0000')) return { code: 'nul_character', pointer, message: `NUL characters (\\u0000) cannot be stored (at ${where(pointer)}): remove them.` };
  if (LONE_SURROGATE.test(s)) {
    return { code: 'invalid_unicode', pointer, message: `Unpaired UTF-16 surrogates (\\ud800-\\udfff) cannot be stored (at ${where(pointer)}): send valid Unicode.` };
  }
  return undefined;
}

/**
 * The first part of `root` that cannot be stored as sent, or undefined. `base` prefixes every
 * pointer (a webhook checks its whole run input, so a body's numbers point under `/body`).
 * Iterative, so a hostile nesting depth cannot overflow the stack before it is measured.
 */
export function findUnstorable(root: unknown, base = ''): Unstorable | undefined {
  // [value, pointer, depth, is it an object's key]
  const stack: [unknown, string, number, boolean][] = [[root, base, 0, false]];
  while (stack.length > 0) {
    const [value, pointer, depth, isKey] = stack.pop()!;
    if (typeof value === 'string') {
      const bad = checkString(value, pointer);
      if (bad) return bad;
      continue;
    }
    if (isKey) continue;
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) {
        const message = `The number at ${where(pointer)} is out of range: finite numbers up to about ±1.8e308 are accepted; send larger ones as strings.`;
        return { code: 'number_out_of_range', pointer, message };
      }
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    if (depth >= MAX_JSON_DEPTH) return { code: 'too_deep', pointer, message: `JSON nested deeper than ${MAX_JSON_DEPTH} levels is refused (at ${where(pointer)}).` };
    const array = Array.isArray(value);
    const entries: [string, unknown][] = array ? value.map((v, i) => [String(i), v]) : Object.entries(value);
    // Pushed in reverse, each key after its value, so problems are found in document order.
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, child] = entries[i]!;
      const at = `${pointer}/${escapePointer(key)}`;
      stack.push([child, at, depth + 1, false]);
      if (!array) stack.push([key, at, depth + 1, true]);
    }
  }
  return undefined;
}

/** A 400 whose message names the pointer and whose `details` carries it. */
export function unstorableError(problem: Unstorable): AppError {
  return badRequest(problem.message, [{ pointer: problem.pointer, message: problem.message }], problem.code);
}

/** Throws the 400 for the first unstorable part of `value`. */
export function assertStorable(value: unknown, base = ''): void {
  const problem = findUnstorable(value, base);
  if (problem) throw unstorableError(problem);
}
