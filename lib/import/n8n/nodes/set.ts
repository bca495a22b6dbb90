import { Untranslatable, isExpression, jsonataOrProblem, translateValue } from '../expressions.js';
import { templateValueToJsonata, translateJsonText } from '../json-text.js';
import { asArray, asRecord, type MapContext, type MapResult } from '../types.js';

/**
 * Set / Edit Fields → `transform`. Versions 1–2 (`values.{string,number,boolean}`, `keepOnlySet`),
 * 3–3.2 (`fields.values` typed entries, `include`), 3.3+ (`assignments.assignments`,
 * `includeOtherFields`), and the JSON mode (`jsonOutput`). Keeping the input's other fields
 * becomes `$merge([<input>, {<fields>}])`.
 */
interface Field {
  name: string;
  value: unknown;
  type: string;
}

function fieldsOf(ctx: MapContext): Field[] {
  const { p } = ctx;
  if (ctx.version < 3) {
    const values = asRecord(p.values);
    return ['string', 'number', 'boolean'].flatMap((type) => asArray(values[type]).map(asRecord).map((f) => ({ name: String(f.name ?? 'propertyName'), value: f.value ?? (type === 'number' ? 0 : type === 'boolean' ? false : ''), type })));
  }
  if (ctx.version < 3.3) {
    return asArray(asRecord(p.fields).values).map(asRecord).map((f) => {
      const type = String(f.type ?? 'stringValue');
      return { name: String(f.name ?? ''), value: f[type] ?? (type === 'booleanValue' ? 'true' : ''), type: type.replace(/Value$/, '') };
    });
  }
  return asArray(asRecord(p.assignments).assignments).map(asRecord).map((a) => ({ name: String(a.name ?? ''), value: a.value ?? '', type: String(a.type ?? 'string') }));
}

/** Whether the input item's other fields stay in the output. */
function keepsInput(ctx: MapContext): boolean | 'unsupported' {
  const { p } = ctx;
  if (ctx.version < 3) return p.keepOnlySet !== true;
  const include = String(p.include ?? 'all');
  if (ctx.version >= 3.3 && p.includeOtherFields !== true) return false;
  if (include === 'all') return true;
  if (include === 'none') return false;
  return 'unsupported';
}

/** A literal of a declared Set type (n8n stores numbers and booleans as text in v3). */
function typedLiteral(value: unknown, type: string): unknown {
  if (isExpression(value) || typeof value !== 'string') return value;
  if (type === 'number' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
  if (type === 'boolean' && (value === 'true' || value === 'false')) return value === 'true';
  if ((type === 'array' || type === 'object') && value.trim() !== '') {
    try {
      return JSON.parse(value);
    } catch {
      return value;
    }
  }
  return value;
}

/** `a.b` → {a: {b: v}} (n8n's dot notation, on by default). */
function assign(target: Record<string, unknown>, name: string, value: unknown, dots: boolean): void {
  const path = dots ? name.split('.') : [name];
  let cur = target;
  path.slice(0, -1).forEach((key) => {
    if (!cur[key] || typeof cur[key] !== 'object') cur[key] = {};
    cur = cur[key] as Record<string, unknown>;
  });
  cur[path[path.length - 1]!] = value;
}

export function setNode(ctx: MapContext): MapResult {
  const keep = keepsInput(ctx);
  if (keep === 'unsupported') return { unconvertible: `'include: ${String(ctx.p.include)}' (selected or excluded input fields) is not translated` };
  const dots = asRecord(ctx.p.options).dotNotation !== false;

  if (ctx.p.mode === 'raw') {
    const value = translateJsonText(ctx.p.jsonOutput ?? '{}', ctx.scope, 'jsonOutput', ctx.problems);
    if (!keep || value === undefined) return { type: 'transform', params: { value }, output: { base: `nodes.${ctx.id}.output` } };
    return { type: 'transform', params: { value: `{{ $merge([${inputJsonata(ctx)}, ${templateValueToJsonata(value)}]) }}` }, output: { base: `nodes.${ctx.id}.output` } };
  }

  const fields = fieldsOf(ctx).filter((f) => f.name !== '');
  // v3+ converts an expression's result to the field's declared type (strictly, unless told to ignore errors).
  const casts = ctx.version >= 3 && asRecord(ctx.p.options).ignoreConversionErrors !== true;
  const typed = (f: Field, j: string) => (casts && isExpression(f.value) ? cast(f.type, j) : j);
  if (!keep) {
    const value: Record<string, unknown> = {};
    for (const f of fields) {
      let translated: unknown;
      if (isExpression(f.value) && /^=\s*\{\{[\s\S]*\}\}\s*$/.test(f.value) && casts) {
        const j = jsonataOrProblem(f.value, ctx.scope, f.name, ctx.problems);
        translated = j === undefined ? undefined : `{{ ${typed(f, j)} }}`;
      } else {
        translated = f.type === 'object' && isExpression(f.value) ? translateJsonText(f.value, ctx.scope, f.name, ctx.problems) : translateValue(typedLiteral(f.value, f.type), ctx.scope, f.name, ctx.problems);
      }
      assign(value, f.name, translated, dots);
    }
    return { type: 'transform', params: { value }, output: { base: `nodes.${ctx.id}.output` } };
  }
  // The input's fields plus these: one JSONata object merged over the input.
  const object: Record<string, unknown> = {};
  for (const f of fields) {
    const j = jsonataOrProblem(typedLiteral(f.value, f.type), ctx.scope, f.name, ctx.problems);
    if (j !== undefined) assign(object, f.name, { __jsonata: typed(f, j) }, dots);
  }
  return { type: 'transform', params: { value: `{{ $merge([${inputJsonata(ctx)}, ${objectJsonata(object)}]) }}` }, output: { base: `nodes.${ctx.id}.output` } };
}

/** n8n's conversion to a Set field's type; arrays and objects from text need JSON.parse, which JSONata lacks. */
function cast(type: string, j: string): string {
  switch (type) {
    case 'string': return `$string(${j})`;
    case 'number': return `$number(${j})`;
    case 'boolean': return `($v := ${j}; $type($v) = "string" ? $lowercase($v) in ["true", "1", "yes", "on"] : $boolean($v))`;
    default: return j;
  }
}

function objectJsonata(o: Record<string, unknown>): string {
  return `{${Object.entries(o).map(([k, v]) => `${JSON.stringify(k)}: ${v && typeof v === 'object' && '__jsonata' in v ? (v as { __jsonata: string }).__jsonata : objectJsonata(v as Record<string, unknown>)}`).join(', ')}}`;
}

function inputJsonata(ctx: MapContext): string {
  const json = ctx.scope.json();
  if (!json.ok) throw new Untranslatable(json.reason);
  return json.ref.base;
}
