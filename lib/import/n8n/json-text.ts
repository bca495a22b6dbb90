import { splitTemplate } from '../../templates.js';
import { Untranslatable, expressionParts, isExpression, partsToJsonata, translateValue, type ExprScope, type ExpressionProblem, type Part } from './expressions.js';

/**
 * A JSON-text parameter with `{{ }}` inside (HTTP Request's JSON body, Set's JSON mode): the JSON
 * is parsed with each `{{ }}` standing in as a marker, then each marker becomes an expression —
 * the raw value where it stood alone, `$string()` inside a string. Returns undefined (and a problem)
 * when the text is not JSON once expressions are set aside.
 */
export function translateJsonText(value: unknown, scope: ExprScope, at: string, problems: ExpressionProblem[]): unknown {
  if (typeof value !== 'string') return translateValue(value, scope, at, problems);
  const body = isExpression(value) ? value.slice(1) : value;
  const fail = (reason: string) => {
    problems.push({ parameter: at, text: body.slice(0, 500), reason });
    return undefined;
  };
  let parts: Part[];
  try {
    parts = isExpression(value) ? expressionParts(body, scope) : [{ text: body }];
  } catch (err) {
    if (!(err instanceof Untranslatable)) throw err;
    return fail(err.reason);
  }
  if (parts.length === 1 && 'jsonata' in parts[0]!) return `{{ ${parts[0].jsonata} }}`;
  const exprs: string[] = [];
  let inString = false;
  let text = '';
  for (const p of parts) {
    if ('text' in p) {
      for (let i = 0; i < p.text.length; i++) {
        const ch = p.text[i]!;
        if (inString && ch === '\\') i++;
        else if (ch === '"') inString = !inString;
      }
      text += p.text;
    } else {
      // Inside a JSON string n8n interpolates text; standing alone, the value keeps its type.
      const marker = `\u0000cv${inString ? 's' : 'y'}${exprs.length}\u0000`;
      exprs.push(p.jsonata);
      text += inString ? marker : JSON.stringify(marker);
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text.replace(/\u0000/g, '\\u0000'));
  } catch (err) {
    return fail(`it is not JSON once its {{ }} are set aside (${(err as Error).message})`);
  }
  const MARKER = /\u0000cv[sy](\d+)\u0000/g;
  const restore = (v: unknown): unknown => {
    if (typeof v === 'string') {
      const whole = /^\u0000cv([sy])(\d+)\u0000$/.exec(v);
      if (whole) return whole[1] === 'y' ? `{{ ${exprs[Number(whole[2])]} }}` : `{{ $string(${exprs[Number(whole[2])]}) }}`;
      if (!v.includes('\u0000cv')) return v.includes('{{') ? `{{ ${JSON.stringify(v)} }}` : v;
      return v.split(MARKER).map((piece, i) => (i % 2 === 1 ? `{{ $string(${exprs[Number(piece)]}) }}` : piece)).join('');
    }
    if (Array.isArray(v)) return v.map(restore);
    if (v && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => {
        if (k.includes('\u0000cv')) throw new Untranslatable('an expression in a JSON key');
        return [k, restore(x)];
      }));
    }
    return v;
  };
  try {
    return restore(parsed);
  } catch (err) {
    if (!(err instanceof Untranslatable)) throw err;
    return fail(err.reason);
  }
}

/** A Conveyor param value (strings may hold `{{ }}`) → one JSONata expression yielding it once resolved. */
export function templateValueToJsonata(value: unknown): string {
  if (typeof value === 'string') {
    if (!value.includes('{{')) return JSON.stringify(value);
    const parts = splitTemplate(value).map((p): Part => (p.kind === 'text' ? { text: p.text } : { jsonata: p.source }));
    return partsToJsonata(parts);
  }
  if (Array.isArray(value)) return `[${value.map(templateValueToJsonata).join(', ')}]`;
  if (value && typeof value === 'object') return `{${Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${templateValueToJsonata(v)}`).join(', ')}}`;
  return value === undefined ? 'null' : JSON.stringify(value);
}
