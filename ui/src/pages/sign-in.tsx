import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, type Session } from '../api.js';
import { Field, waitText } from '../field.js';

interface SignInOptions {
  apiKey: boolean;
  password: boolean;
  sso: boolean;
  passwordReset: boolean;
}

/** Why a sign-in failed, in words: a wrong password or key (401), or too many tries with the wait (429). */
function failure(err: unknown): string {
  if (err instanceof ApiError && err.status === 429) {
    return err.retryAfter ? `Too many failed sign-ins: wait ${waitText(err.retryAfter)}, then try again.` : err.message;
  }
  return err instanceof ApiError ? err.message : 'Could not reach the server. Try again.';
}

/**
 * One form, two ways in: an email and password, or an API key (for operators and scripts). The
 * secrets go in a POST body only: never a URL, never storage a script can read. Single sign-on is
 * a plain link (the identity provider's pages are not ours); the reset form asks for a mailed link.
 */
export function SignIn({ message, onSignedIn }: { message: string | null; onSignedIn: (s: Session) => void }) {
  const [options, setOptions] = useState<SignInOptions>({ apiKey: true, password: true, sso: false, passwordReset: false });
  const [mode, setMode] = useState<'sign-in' | 'reset'>('sign-in');
  useEffect(() => {
    api.publicGet<SignInOptions>('/ui/sign-in-options').then(setOptions, () => {});
  }, []);
  return (
    <main class="sign-in">
      <h1>Conveyor console</h1>
      {message && mode === 'sign-in' && (
        <p class="notice" role="status">
          {message}
        </p>
      )}
      {mode === 'reset' ? (
        <ResetRequest onBack={() => setMode('sign-in')} />
      ) : (
        <SignInForm options={options} onSignedIn={onSignedIn} onForgot={() => setMode('reset')} />
      )}
    </main>
  );
}

function SignInForm({ options, onSignedIn, onForgot }: { options: SignInOptions; onSignedIn: (s: Session) => void; onForgot: () => void }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [key, setKey] = useState('');
  const [error, setError] = useState<{ text: string; on: 'person' | 'key' } | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    const byKey = key.trim() !== '';
    if (!byKey && (!email.trim() || !password)) {
      setError({ text: options.password ? 'Enter your email and password, or an API key.' : 'Enter an API key.', on: options.password ? 'person' : 'key' });
      return;
    }
    setBusy(true);
    try {
      const session = byKey ? await api.signIn(key.trim()) : await api.signInWithPassword(email.trim(), password);
      setKey('');
      setPassword('');
      onSignedIn(session);
    } catch (err) {
      setError({ text: failure(err), on: byKey ? 'key' : 'person' });
    } finally {
      setBusy(false);
    }
  };
  const personError = error?.on === 'person' ? error.text : null;
  const keyError = error?.on === 'key' ? error.text : null;
  return (
    <>
      <form onSubmit={submit} method="post" action="/ui/session" class="sign-in-form">
        {options.password && (
          <fieldset>
            <legend>With your email and password</legend>
            <Field id="email" label="Email" type="email" autocomplete="username" value={email} onInput={setEmail} invalid={!!personError} />
            <Field id="password" label="Password" type="password" autocomplete="current-password" value={password} onInput={setPassword} error={personError} />
          </fieldset>
        )}
        <fieldset>
          <legend>{options.password ? 'Or with an API key' : 'With an API key'}</legend>
          <div class="field">
            <label for="api-key">API key</label>
            <input
              id="api-key"
              name="apiKey"
              type="password"
              autocomplete="off"
              spellcheck={false}
              value={key}
              onInput={(e) => setKey((e.target as HTMLInputElement).value)}
              aria-invalid={keyError ? true : undefined}
              aria-describedby={keyError ? 'api-key-error' : undefined}
            />
            {keyError && (
              <p id="api-key-error" class="error" role="alert">
                {keyError}
              </p>
            )}
          </div>
        </fieldset>
        <button type="submit" class="primary" disabled={busy}>
          Sign in
        </button>
      </form>
      <div class="sign-in-more">
        {options.sso && (
          <a class="button-link" href="/ui/oidc/start">
            Sign in with SSO
          </a>
        )}
        {options.passwordReset && (
          <button type="button" class="link" onClick={onForgot}>
            Forgot password?
          </button>
        )}
      </div>
      <p class="hint">
        An admin invites people from the Members page. <code>npm start</code> prints an admin key; admins make more with <code>POST /v1/api-keys</code>.
      </p>
    </>
  );
}

/** Always the same answer, whether the email has an account or not: the form tells nobody who does. */
function ResetRequest({ onBack }: { onBack: () => void }) {
  const [email, setEmail] = useState('');
  const [sent, setSent] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    if (!email.trim()) {
      setError('Enter the email you sign in with.');
      return;
    }
    setBusy(true);
    try {
      await api.publicPost('/ui/password-reset', { email: email.trim() });
      setSent(true);
    } catch (err) {
      setError(failure(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <h2>Reset your password</h2>
      {sent ? (
        <p class="notice" role="status">
          If {email.trim()} has an account, a link to set a new password is on its way. It works once, for 30 minutes.
        </p>
      ) : (
        <form onSubmit={submit} class="sign-in-form">
          <Field id="reset-email" label="Email" type="email" autocomplete="username" value={email} onInput={setEmail} error={error} />
          <button type="submit" class="primary" disabled={busy}>
            Send reset link
          </button>
        </form>
      )}
      <p>
        <button type="button" class="link" onClick={onBack}>
          Back to sign in
        </button>
      </p>
    </>
  );
}
