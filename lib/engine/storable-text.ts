/**
 * What PostgreSQL's jsonb refuses in a string: NUL, and UTF-16 surrogates that are not part of
 * a pair. Outputs are checked on their JSON text, where JSON.stringify writes both as `\uXXXX`
 * escapes (a paired surrogate stays a raw character), so one scan of the text we already made
 * finds them in keys and values alike. An escape preceded by an odd run of backslashes is a
 * literal backslash followed by "u…", not an escape.
 */
const UNSTORABLE_ESCAPE = /(?<!\\)(?:\\\\)*\\u(0000|[dD][89a-fA-F][0-9a-fA-F]{2})/;

/** Names what in `jsonText` PostgreSQL cannot store, or undefined when it can store it all. */
export function unstorableEscape(jsonText: string): string | undefined {
  const found = UNSTORABLE_ESCAPE.exec(jsonText);
  if (!found) return undefined;
  return found[1] === '0000' ? 'a NUL character (\\u0000)' : `an unpaired UTF-16 surrogate (\\u${found[1]!.toLowerCase()})`;
}

const LONE_SURROGATES = /[\uD800-\uDFFF]/gu;

/** Text made storable: lone surrogates become U+FFFD and NULs are dropped (for error messages, which must be recorded). */
export function cleanText(text: string): string {
  return text.replace(LONE_SURROGATES, '\uFFFD').replaceAll('\u0000', '');
}
