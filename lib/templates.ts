/**
 * Splits a string param into literal text and `{{ expression }}` parts. The closing `}}` is
 * found outside string literals and nested braces, so `{{ {"a": {"b": 1}} }}` is one part.
 * This only tokenises the template; the expression language itself is JSONata's.
 */
export type TemplatePart = { kind: 'text'; text: string } | { kind: 'expr'; source: string; offset: number };

export class TemplateSyntaxError extends Error {
  constructor(message: string, readonly offset: number) {
    super(message);
    this.name = 'TemplateSyntaxError';
  }
}

export function hasTemplate(text: string): boolean {
  return text.includes('{{');
}

export function splitTemplate(text: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let i = 0;
  while (i < text.length) {
    const open = text.indexOf('{{', i);
    if (open < 0) {
      parts.push({ kind: 'text', text: text.slice(i) });
      break;
    }
    if (open > i) parts.push({ kind: 'text', text: text.slice(i, open) });
    const close = findClose(text, open + 2);
    if (close < 0) throw new TemplateSyntaxError(`'{{' at offset ${open} has no matching '}}'`, open);
    const source = text.slice(open + 2, close).trim();
    if (!source) throw new TemplateSyntaxError(`empty '{{ }}' at offset ${open}`, open);
    parts.push({ kind: 'expr', source, offset: open });
    i = close + 2;
  }
  return parts;
}

/** The string is one `{{ }}` and nothing else (surrounding whitespace aside): it yields a raw value. */
export function singleExpression(parts: readonly TemplatePart[]): string | undefined {
  const meaningful = parts.filter((p) => p.kind === 'expr' || p.text.trim() !== '');
  const only = meaningful.length === 1 ? meaningful[0] : undefined;
  return only?.kind === 'expr' ? only.source : undefined;
}

function findClose(text: string, from: number): number {
  let depth = 0;
  let quote: string | undefined;
  for (let i = from; i < text.length; i++) {
    const ch = text[i]!;
    if (quote) {
      if (ch === '\\') i++;
      else if (ch === quote) quote = undefined;
      continue;
    }
    if (ch === '"' || ch === "'" || ch === '`') quote = ch;
    else if (ch === '{') depth++;
    else if (ch === '}') {
      if (depth === 0 && text[i + 1] === '}') return i;
      if (depth > 0) depth--;
    }
  }
  return -1;
}
