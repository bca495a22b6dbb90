/** A labelled input with its error beside it (aria-invalid + aria-describedby): the console's form field. */
export function Field({
  id,
  label,
  value,
  onInput,
  error,
  type = 'text',
  autocomplete,
  required,
  hint,
  invalid,
}: {
  id: string;
  label: string;
  value: string;
  onInput: (value: string) => void;
  error?: string | null;
  type?: 'text' | 'email' | 'password';
  autocomplete?: string;
  required?: boolean;
  hint?: string;
  /** Marked invalid without a message of its own (the message sits by a sibling field). */
  invalid?: boolean;
}) {
  const described = [error ? `${id}-error` : null, hint ? `${id}-hint` : null].filter(Boolean).join(' ') || undefined;
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <input
        id={id}
        name={id}
        // Preact's typings pick the input's role from a literal type; ours is one of three.
        type={type as 'text'}
        autocomplete={autocomplete}
        spellcheck={false}
        required={required}
        value={value}
        onInput={(e) => onInput((e.target as HTMLInputElement).value)}
        aria-invalid={error || invalid ? true : undefined}
        aria-describedby={described}
      />
      {hint && (
        <span id={`${id}-hint`} class="hint">
          {hint}
        </span>
      )}
      {error && (
        <p id={`${id}-error`} class="error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}

/** Minutes (rounded up) for a Retry-After in seconds. */
export const waitText = (seconds: number) => (seconds < 90 ? `${seconds} s` : `${Math.ceil(seconds / 60)} min`);
