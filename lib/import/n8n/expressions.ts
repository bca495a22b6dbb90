import { parseExpressionAt, type Node as AcornNode } from 'acorn';
import { TemplateSyntaxError, splitTemplate } from '../../templates.js';

/**
 * n8n expressions are JavaScript inside `{{ }}` in a parameter that starts with `=`. The small
 * part that means "a field of some node's item" (`$json.x`, `$('Node').item.json.x`,
 * `$node["Node"].json.x`, `$input.item.json.x`), with string concatenation, comparisons and
 * simple ternaries, becomes JSONata over `nodes.<id>.output` / `input`. The JavaScript is parsed
 * (acorn), never run; anything else is reported as untranslatable.
 */

/** Where an n8n node's item JSON lives in Conveyor: a JSONata path, and field renames at its root. */
export interface DataRef {
  base: string;
  rename?: Record<string, string>;
}
export type Lookup = { ok: true; ref: DataRef } | { ok: false; reason: string };

export interface ExprScope {
  /** `$json` and `$input.item.json`: the item the node receives. */
  json(): Lookup;
  /** `$('Name')…json` and `$node["Name"].json`. */
  node(name: string): Lookup;
}

export class Untranslatable extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

/** One parameter that could not be translated: where, the text, and why. */
export interface ExpressionProblem {
  parameter: string;
  text: string;
  reason: string;
}

type Kind = 'string' | 'number' | 'boolean' | 'unknown';
interface J {
  code: string;
  kind: Kind;
}

const SIMPLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const JSONATA_WORDS = new Set(['and', 'or', 'in', 'true', 'false', 'null', 'function']);

/** A field step in a JSONata path: backticks where the name is not a plain identifier. */
export function fieldStep(name: string): string {
  if (SIMPLE_NAME.test(name) && !JSONATA_WORDS.has(name)) return name;
  if (name.includes('`')) throw new Untranslatable(`the field name ${JSON.stringify(name)} contains a backtick`);
  return `\`${name}\``;
}

export function pathOf(ref: DataRef, segments: (string | number)[]): string {
  let code = ref.base;
  segments.forEach((seg, i) => {
    if (typeof seg === 'number') code += `[${seg}]`;
    else code += `.${fieldStep(i === 0 && ref.rename?.[seg] ? ref.rename[seg]! : seg)}`;
  });
  return code;
}

const need = (lookup: Lookup): DataRef => {
  if (!lookup.ok) throw new Untranslatable(lookup.reason);
  return lookup.ref;
};

const str = (n: AcornNode): string | undefined => (n.type === 'Literal' && typeof (n as any).value === 'string' ? (n as any).value : undefined);

/** Splits `a.b["c"][0]` (and calls within) into a root and its steps, innermost first. */
type Step = { kind: 'prop'; name: string | number } | { kind: 'call'; args: AcornNode[] };
function flatten(node: AcornNode): { root: AcornNode; steps: Step[] } {
  const steps: Step[] = [];
  let cur: any = node;
  for (;;) {
    if (cur.type === 'ChainExpression') cur = cur.expression;
    if (cur.type === 'MemberExpression') {
      if (!cur.computed) steps.unshift({ kind: 'prop', name: cur.property.name });
      else if (cur.property.type === 'Literal' && (typeof cur.property.value === 'string' || Number.isInteger(cur.property.value))) steps.unshift({ kind: 'prop', name: cur.property.value });
      else throw new Untranslatable('a computed property (obj[expr]) is JavaScript, not a field path');
      cur = cur.object;
    } else if (cur.type === 'CallExpression' && cur.callee.type !== 'Identifier') {
      steps.unshift({ kind: 'call', args: cur.arguments });
      cur = cur.callee;
    } else {
      return { root: cur, steps };
    }
  }
}

const isProp = (s: Step | undefined, name: string) => s?.kind === 'prop' && s.name === name;
const isCall = (s: Step | undefined) => s?.kind === 'call' && s.args.length === 0;

/** `.item.json`, `.first().json`, `.last().json` after a node selector: how many steps that took. */
function itemAccess(steps: Step[], what: string): number {
  if (isProp(steps[0], 'item') && isProp(steps[1], 'json')) return 2;
  if ((isProp(steps[0], 'first') || isProp(steps[0], 'last')) && isCall(steps[1]) && isProp(steps[2], 'json')) return 3;
  if (isProp(steps[0], 'all') || isProp(steps[0], 'itemMatching')) throw new Untranslatable(`${what}.${(steps[0] as { name: string }).name}() works on item lists, which Conveyor nodes do not have`);
  throw new Untranslatable(`only ${what}.item.json, .first().json and .last().json are translated`);
}

function fieldPath(node: AcornNode, scope: ExprScope): J {
  const { root, steps } = flatten(node);
  let ref: DataRef;
  let rest: Step[];
  const r = root as any;
  if (r.type === 'Identifier' && r.name === '$json') {
    ref = need(scope.json());
    rest = steps;
  } else if (r.type === 'Identifier' && r.name === '$input') {
    const used = itemAccess(steps, '$input');
    ref = need(scope.json());
    rest = steps.slice(used);
  } else if (r.type === 'CallExpression' && r.callee.type === 'Identifier' && r.callee.name === '$' && r.arguments.length === 1 && str(r.arguments[0]) !== undefined) {
    const name = str(r.arguments[0])!;
    const used = itemAccess(steps, `$('${name}')`);
    ref = need(scope.node(name));
    rest = steps.slice(used);
  } else if (r.type === 'Identifier' && r.name === '$node' && steps[0]?.kind === 'prop' && typeof steps[0].name === 'string' && isProp(steps[1], 'json')) {
    ref = need(scope.node(steps[0].name));
    rest = steps.slice(2);
  } else if (r.type === 'Identifier' && (r.name === '$execution' || r.name === '$workflow') && isProp(steps[0], 'id') && steps.length === 1) {
    return { code: r.name === '$execution' ? 'run.id' : 'run.workflowId', kind: 'string' };
  } else if (r.type === 'CallExpression' && r.callee.type === 'Identifier' && r.callee.name === '$items') {
    throw new Untranslatable('$items() works on item lists, which Conveyor nodes do not have');
  } else {
    throw new Untranslatable(`${describeNode(root)} has no Conveyor equivalent`);
  }
  const segments = rest.map((s) => {
    if (s.kind === 'call') throw new Untranslatable('method calls are JavaScript: only field paths are translated');
    return s.name;
  });
  return { code: pathOf(ref, segments), kind: 'unknown' };
}

function describeNode(n: AcornNode): string {
  const a = n as any;
  if (a.type === 'Identifier') return `'${a.name}'`;
  if (a.type === 'CallExpression' && a.callee.type === 'Identifier') return `the call ${a.callee.name}()`;
  if (a.type === 'NewExpression') return 'a `new` expression';
  if (a.type === 'ArrowFunctionExpression' || a.type === 'FunctionExpression') return 'a function';
  return `a ${a.type}`;
}

const BOOLEAN_OPS: Record<string, string> = { '===': '=', '==': '=', '!==': '!=', '!=': '!=', '<': '<', '>': '>', '<=': '<=', '>=': '>=' };

function tx(node: AcornNode, scope: ExprScope): J {
  const n = node as any;
  switch (n.type) {
    case 'Literal':
      if (n.regex) throw new Untranslatable('a regular expression literal');
      if (typeof n.value === 'string') return { code: JSON.stringify(n.value), kind: 'string' };
      if (typeof n.value === 'number') return { code: String(n.value), kind: 'number' };
      if (typeof n.value === 'boolean') return { code: String(n.value), kind: 'boolean' };
      if (n.value === null) return { code: 'null', kind: 'unknown' };
      throw new Untranslatable('an unsupported literal');
    case 'TemplateLiteral': {
      const parts: string[] = [];
      n.quasis.forEach((q: any, i: number) => {
        if (q.value.cooked) parts.push(JSON.stringify(q.value.cooked));
        if (i < n.expressions.length) parts.push(`$string(${tx(n.expressions[i], scope).code})`);
      });
      return { code: parts.length ? `(${parts.join(' & ')})` : '""', kind: 'string' };
    }
    case 'Identifier':
    case 'MemberExpression':
    case 'ChainExpression':
    case 'CallExpression':
      return fieldPath(n, scope);
    case 'BinaryExpression': {
      const a = tx(n.left, scope);
      const b = tx(n.right, scope);
      if (n.operator === '+') {
        if (a.kind === 'string' || b.kind === 'string') return { code: `(${a.code} & ${b.code})`, kind: 'string' };
        if (a.kind === 'number' && b.kind === 'number') return { code: `(${a.code} + ${b.code})`, kind: 'number' };
        // JavaScript decides at run time: numbers add, anything else concatenates.
        return { code: `($type(${a.code}) = "number" and $type(${b.code}) = "number" ? ${a.code} + ${b.code} : ${a.code} & ${b.code})`, kind: 'unknown' };
      }
      if (['-', '*', '/', '%'].includes(n.operator)) return { code: `(${a.code} ${n.operator} ${b.code})`, kind: 'number' };
      const op = BOOLEAN_OPS[n.operator];
      if (op) return { code: `(${a.code} ${op} ${b.code})`, kind: 'boolean' };
      throw new Untranslatable(`the operator ${n.operator}`);
    }
    case 'LogicalExpression': {
      const a = tx(n.left, scope);
      const b = tx(n.right, scope);
      if (a.kind === 'boolean' && b.kind === 'boolean' && n.operator !== '??') return { code: `(${a.code} ${n.operator === '&&' ? 'and' : 'or'} ${b.code})`, kind: 'boolean' };
      // JavaScript's || and && return an operand, not a boolean (`$json.name || "anonymous"`).
      if (n.operator === '||') return { code: `(${a.code} ? ${a.code} : ${b.code})`, kind: a.kind === b.kind ? a.kind : 'unknown' };
      if (n.operator === '&&') return { code: `(${a.code} ? ${b.code} : ${a.code})`, kind: 'unknown' };
      return { code: `($exists(${a.code}) and ${a.code} != null ? ${a.code} : ${b.code})`, kind: a.kind === b.kind ? a.kind : 'unknown' };
    }
    case 'UnaryExpression': {
      const a = tx(n.argument, scope);
      if (n.operator === '!') return { code: `$not(${a.code})`, kind: 'boolean' };
      if (n.operator === '-') return { code: `-(${a.code})`, kind: 'number' };
      if (n.operator === '+') return { code: `$number(${a.code})`, kind: 'number' };
      throw new Untranslatable(`the operator ${n.operator}`);
    }
    case 'ConditionalExpression': {
      const t = tx(n.test, scope);
      const c = tx(n.consequent, scope);
      const e = tx(n.alternate, scope);
      return { code: `(${t.code} ? ${c.code} : ${e.code})`, kind: c.kind === e.kind ? c.kind : 'unknown' };
    }
    default:
      throw new Untranslatable(`${describeNode(n)} is JavaScript with no JSONata translation`);
  }
}

/** One `{{ }}`'s JavaScript → JSONata source; throws Untranslatable. */
export function toJsonata(js: string, scope: ExprScope): string {
  let ast: AcornNode;
  try {
    ast = parseExpressionAt(js, 0, { ecmaVersion: 'latest' });
  } catch (err) {
    throw new Untranslatable(`it does not parse as JavaScript (${(err as Error).message})`);
  }
  if (js.slice(ast.end).trim().replace(/;$/, '') !== '') throw new Untranslatable('only a single expression is translated, not statements');
  return tx(ast, scope).code;
}

export type Part = { text: string } | { jsonata: string };

/** An `=`-expression's parts: literal text and translated `{{ }}`s. */
export function expressionParts(body: string, scope: ExprScope): Part[] {
  let parts;
  try {
    parts = splitTemplate(body);
  } catch (err) {
    if (err instanceof TemplateSyntaxError) throw new Untranslatable(err.message);
    throw err;
  }
  return parts.map((p) => (p.kind === 'text' ? { text: p.text } : { jsonata: toJsonata(p.source, scope) }));
}

/** Whether an n8n parameter value is an expression (`=` prefix). */
export const isExpression = (v: unknown): v is string => typeof v === 'string' && v.startsWith('=');

/** A Conveyor string param from parts: `{{ }}` around JSONata, literal text kept (quoted when it holds `{{`). */
function partsToTemplate(parts: Part[]): string {
  const meaningful = parts.filter((p) => !('text' in p) || p.text !== '');
  return meaningful
    .map((p) => ('jsonata' in p ? `{{ ${p.jsonata} }}` : p.text.includes('{{') ? `{{ ${JSON.stringify(p.text)} }}` : p.text))
    .join('');
}

export function partsToJsonata(parts: Part[]): string {
  const meaningful = parts.filter((p) => !('text' in p) || p.text.trim() !== '' || parts.length === 1);
  if (meaningful.length === 1 && 'jsonata' in meaningful[0]!) return meaningful[0].jsonata;
  const pieces = parts.filter((p) => !('text' in p) || p.text !== '').map((p) => ('jsonata' in p ? `$string(${p.jsonata})` : JSON.stringify(p.text)));
  return pieces.length === 0 ? '""' : `(${pieces.join(' & ')})`;
}

/**
 * An n8n parameter value → a Conveyor param value: expressions become `{{ JSONata }}`, literals
 * stay (a literal string holding `{{` is quoted so Conveyor does not read it as an expression).
 * Untranslatable expressions are added to `problems` and left out.
 */
export function translateValue(value: unknown, scope: ExprScope, at: string, problems: ExpressionProblem[]): unknown {
  if (isExpression(value)) {
    try {
      return partsToTemplate(expressionParts(value.slice(1), scope));
    } catch (err) {
      if (!(err instanceof Untranslatable)) throw err;
      problems.push({ parameter: at, text: value.slice(1), reason: err.reason });
      return undefined;
    }
  }
  if (typeof value === 'string') return value.includes('{{') ? `{{ ${JSON.stringify(value)} }}` : value;
  if (Array.isArray(value)) return value.map((v, i) => translateValue(v, scope, `${at}[${i}]`, problems));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, translateValue(v, scope, `${at}.${k}`, problems)]));
  }
  return value;
}

/** An n8n parameter value → one JSONata expression yielding it (to compose with others). */
export function valueToJsonata(value: unknown, scope: ExprScope): string {
  if (isExpression(value)) return partsToJsonata(expressionParts(value.slice(1), scope));
  if (value === undefined) return 'null';
  if (Array.isArray(value)) return `[${value.map((v) => valueToJsonata(v, scope)).join(', ')}]`;
  if (value && typeof value === 'object') return `{${Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${valueToJsonata(v, scope)}`).join(', ')}}`;
  return JSON.stringify(value);
}

/** Like valueToJsonata, recording a problem instead of throwing. */
export function jsonataOrProblem(value: unknown, scope: ExprScope, at: string, problems: ExpressionProblem[]): string | undefined {
  try {
    return valueToJsonata(value, scope);
  } catch (err) {
    if (!(err instanceof Untranslatable)) throw err;
    problems.push({ parameter: at, text: typeof value === 'string' ? value.replace(/^=/, '') : JSON.stringify(value), reason: err.reason });
    return undefined;
  }
}
