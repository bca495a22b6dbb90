import { Untranslatable, isExpression, valueToJsonata, type ExprScope } from './expressions.js';
import { asArray, asRecord } from './types.js';

/**
 * IF and Switch conditions → one JSONata boolean. Two n8n formats: the "filter" of IF v2 and
 * Switch v3 (`{conditions: [{leftValue, rightValue, operator: {type, operation}}], combinator,
 * options}`), and the typed lists of IF v1 / Switch v1–2 (`{number: [{value1, operation, value2}]}`).
 * Comparisons cast loosely, as n8n's "convert types where required" does.
 */

/** A literal or expression as JSONata, cast to the comparison's type. */
function operand(v: unknown, type: string, scope: ExprScope, lower: boolean): string {
  if (!isExpression(v)) {
    if (type === 'number' && typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return String(Number(v));
    if (type === 'boolean' && typeof v === 'string' && (v === 'true' || v === 'false')) return v;
    if (type === 'string' && lower && typeof v === 'string') return JSON.stringify(v.toLowerCase());
    return valueToJsonata(v, scope);
  }
  const j = valueToJsonata(v, scope);
  if (type === 'number') return `$number(${j})`;
  if (type === 'boolean') return `$boolean(${j})`;
  if (type === 'string') return lower ? `$lowercase($string(${j}))` : `$string(${j})`;
  return j;
}

/** A regex given as text (`abc` or `/abc/i`) → a JSONata regex literal. */
function regexLiteral(v: unknown, ignoreCase: boolean): string {
  if (typeof v !== 'string' || isExpression(v)) throw new Untranslatable('a regex built by an expression');
  const m = /^\/(.*)\/([gimusy]*)$/s.exec(v);
  const source = m ? m[1]! : v;
  const flags = `${m && m[2]!.includes('i') ? 'i' : ignoreCase ? 'i' : ''}${m && m[2]!.includes('m') ? 'm' : ''}`;
  return `/${source.replace(/(?<!\\)\//g, '\\/')}/${flags}`;
}

const exists = (l: string) => `($exists(${l}) and ${l} != null)`;

function stringOp(op: string, l: string, r: string, rightRaw: unknown, ignoreCase: boolean): string {
  switch (op) {
    case 'equals': case 'equal': return `(${l} = ${r})`;
    case 'notEquals': case 'notEqual': return `(${l} != ${r})`;
    case 'contains': return `$contains(${l}, ${r})`;
    case 'notContains': return `$not($contains(${l}, ${r}))`;
    case 'startsWith': return `($substring(${l}, 0, $length(${r})) = ${r})`;
    case 'notStartsWith': return `($substring(${l}, 0, $length(${r})) != ${r})`;
    case 'endsWith': return `($length(${l}) >= $length(${r}) and $substring(${l}, $length(${l}) - $length(${r})) = ${r})`;
    case 'notEndsWith': return `$not($length(${l}) >= $length(${r}) and $substring(${l}, $length(${l}) - $length(${r})) = ${r})`;
    case 'regex': return `$contains(${l}, ${regexLiteral(rightRaw, ignoreCase)})`;
    case 'notRegex': return `$not($contains(${l}, ${regexLiteral(rightRaw, ignoreCase)}))`;
    case 'empty': case 'isEmpty': return `($length(${l}) = 0)`;
    case 'notEmpty': case 'isNotEmpty': return `($length(${l}) > 0)`;
    default: throw new Untranslatable(`the string comparison '${op}'`);
  }
}

const NUMBER_OPS: Record<string, string> = { equals: '=', equal: '=', notEquals: '!=', notEqual: '!=', gt: '>', larger: '>', lt: '<', smaller: '<', gte: '>=', largerEqual: '>=', lte: '<=', smallerEqual: '<=', after: '>', before: '<', afterOrEquals: '>=', beforeOrEquals: '<=' };

/** One filter condition (IF v2, Switch v3). */
function filterCondition(c: Record<string, unknown>, ignoreCase: boolean, scope: ExprScope): string {
  const operator = asRecord(c.operator);
  const type = String(operator.type ?? 'string');
  const op = String(operator.operation ?? 'equals');
  const lower = type === 'string' && ignoreCase && op !== 'regex' && op !== 'notRegex';
  const raw = valueToJsonata(c.leftValue ?? '', scope);
  if (op === 'exists') return exists(raw);
  if (op === 'notExists') return `$not${exists(raw)}`;
  const l = operand(c.leftValue ?? '', type, scope, lower);
  const r = operator.singleValue ? 'null' : operand(c.rightValue ?? '', type, scope, lower);
  switch (type) {
    case 'string':
      return stringOp(op, l, r, c.rightValue, ignoreCase);
    case 'number':
      if (op === 'empty') return `$not${exists(raw)}`;
      if (op === 'notEmpty') return exists(raw);
      if (NUMBER_OPS[op]) return `(${l} ${NUMBER_OPS[op]} ${r})`;
      break;
    case 'dateTime':
      if (op === 'empty') return `$not${exists(raw)}`;
      if (op === 'notEmpty') return exists(raw);
      if (NUMBER_OPS[op]) return `($toMillis($string(${raw})) ${NUMBER_OPS[op]} $toMillis($string(${valueToJsonata(c.rightValue ?? '', scope)})))`;
      break;
    case 'boolean':
      if (op === 'true') return `(${l} = true)`;
      if (op === 'false') return `(${l} = false)`;
      if (op === 'empty') return `$not${exists(raw)}`;
      if (op === 'notEmpty') return exists(raw);
      if (op === 'equals' || op === 'notEquals') return `(${l} ${NUMBER_OPS[op]} ${r})`;
      break;
    case 'array': {
      const count = `$count(${raw})`;
      const rn = operand(c.rightValue ?? '', 'number', scope, false);
      const lengthOps: Record<string, string> = { lengthEquals: '=', lengthNotEquals: '!=', lengthGt: '>', lengthLt: '<', lengthGte: '>=', lengthLte: '<=' };
      if (op === 'contains') return `(${valueToJsonata(c.rightValue ?? '', scope)} in ${raw})`;
      if (op === 'notContains') return `$not(${valueToJsonata(c.rightValue ?? '', scope)} in ${raw})`;
      if (op === 'empty') return `(${count} = 0)`;
      if (op === 'notEmpty') return `(${count} > 0)`;
      if (lengthOps[op]) return `(${count} ${lengthOps[op]} ${rn})`;
      break;
    }
    case 'object':
      if (op === 'empty') return `($count($keys(${raw})) = 0)`;
      if (op === 'notEmpty') return `($count($keys(${raw})) > 0)`;
      break;
  }
  throw new Untranslatable(`the ${type} comparison '${op}'`);
}

/** A filter value (IF v2, Switch v3 rule) → a JSONata boolean. `ignoreCase` is the node's option. */
export function filterToJsonata(filter: unknown, ignoreCase: boolean, scope: ExprScope): string {
  const f = asRecord(filter);
  const conditions = asArray(f.conditions).map((c) => filterCondition(asRecord(c), ignoreCase, scope));
  if (conditions.length === 0) return 'true';
  return `(${conditions.join(f.combinator === 'or' ? ' or ' : ' and ')})`;
}

const V1_DEFAULT_OP: Record<string, string> = { boolean: 'equal', dateTime: 'after', number: 'smaller', string: 'equal' };
const V1_DEFAULT_VALUE: Record<string, unknown> = { boolean: false, dateTime: '', number: 0, string: '' };

/** One IF v1 / Switch v1–2 comparison: `value1 <operation> value2` of a data type. */
export function typedComparison(type: string, value1: unknown, operation: unknown, value2: unknown, scope: ExprScope): string {
  const op = String(operation ?? V1_DEFAULT_OP[type] ?? 'equal');
  const v1 = value1 ?? V1_DEFAULT_VALUE[type];
  const v2 = value2 ?? V1_DEFAULT_VALUE[type];
  const raw = valueToJsonata(v1, scope);
  if (op === 'isEmpty') return `($not${exists(raw)} or ${raw} = "" or ${raw} = {} or ${raw} = [])`;
  if (op === 'isNotEmpty') return `$not($not${exists(raw)} or ${raw} = "" or ${raw} = {} or ${raw} = [])`;
  if (type === 'string') return stringOp(op, operand(v1, 'string', scope, false), operand(v2, 'string', scope, false), v2, false);
  if (type === 'dateTime' && NUMBER_OPS[op]) return `($toMillis($string(${raw})) ${NUMBER_OPS[op]} $toMillis($string(${valueToJsonata(v2, scope)})))`;
  if ((type === 'number' || type === 'boolean') && NUMBER_OPS[op]) return `(${operand(v1, type, scope, false)} ${NUMBER_OPS[op]} ${operand(v2, type, scope, false)})`;
  throw new Untranslatable(`the ${type} comparison '${op}'`);
}

/** IF v1's `conditions` ({boolean: [...], number: [...], ...}) combined by `all` or `any`. */
export function typedConditionsToJsonata(conditions: unknown, combine: unknown, scope: ExprScope): string {
  const c = asRecord(conditions);
  const terms: string[] = [];
  for (const type of ['boolean', 'dateTime', 'number', 'string']) {
    for (const entry of asArray(c[type])) {
      const e = asRecord(entry);
      terms.push(typedComparison(type, e.value1, e.operation, e.value2, scope));
    }
  }
  // n8n: no condition at all passes with `all` and fails with `any`.
  if (terms.length === 0) return combine === 'any' ? 'false' : 'true';
  return `(${terms.join(combine === 'any' ? ' or ' : ' and ')})`;
}
