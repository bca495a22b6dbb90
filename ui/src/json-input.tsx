import { useState } from 'preact/hooks';

/** Parses a textarea's JSON; an empty field is `undefined`. */
export function parseJson(text: string): { ok: true; value: unknown } | { ok: false; message: string } {
  if (!text.trim()) return { ok: true, value: undefined };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return { ok: false, message: `Not valid JSON: ${(err as Error).message}` };
  }
}

/** A labelled JSON textarea whose error sits next to it (aria-describedby), checked before anything is sent. */
export function JsonField(props: { id: string; label: string; value: string; onInput: (v: string) => void; error: string | null; rows?: number }) {
  const { id, label, value, onInput, error, rows = 6 } = props;
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <textarea
        id={id}
        rows={rows}
        spellcheck={false}
        value={value}
        onInput={(e) => onInput((e.target as HTMLTextAreaElement).value)}
        aria-invalid={error ? true : undefined}
        aria-describedby={error ? `${id}-error` : undefined}
      />
      {error && (
        <p id={`${id}-error`} class="error field-error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}

export function useJsonField(initial = '') {
  const [text, setText] = useState(initial);
  const [error, setError] = useState<string | null>(null);
  return {
    text,
    error,
    setError,
    onInput: (v: string) => {
      setText(v);
      setError(null);
    },
    /** The parsed value, or undefined after showing why not. */
    take(): { value: unknown } | undefined {
      const parsed = parseJson(text);
      if (!parsed.ok) {
        setError(parsed.message);
        return undefined;
      }
      return { value: parsed.value };
    },
  };
}
