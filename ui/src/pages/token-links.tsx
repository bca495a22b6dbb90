import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, fieldError, type Session } from '../api.js';
import { Field } from '../field.js';

/**
 * The pages a mailed link opens: accept an invitation, set a new password. The token is in this
 * page's URL only; it goes to the API in its path and nowhere else (the server sends these pages
 * with Referrer-Policy: no-referrer), and once signed in the URL is replaced by /ui/.
 */
const GONE = 'This link was used or has expired. Ask an admin for a new invitation, or ask for a new reset link from the sign-in page.';
const UNKNOWN = 'This link is not one we know: check that the whole link was copied.';

function linkProblem(err: unknown): string | null {
  if (err instanceof ApiError && err.status === 410) return GONE;
  if (err instanceof ApiError && err.status === 404) return UNKNOWN;
  return null;
}

function Gone({ text }: { text: string }) {
  return (
    <>
      <p class="error" role="alert">
        {text}
      </p>
      <p>
        <a href="/ui/">Go to sign in</a>
      </p>
    </>
  );
}

interface InvitationInfo {
  email: string;
  role: string;
  workspace: string;
}

/**
 * Posts a one-time link's form: signed in on success, the link's end (used, expired, unknown)
 * shown instead of the form, any other error kept for the fields.
 */
async function postLink(
  path: string,
  body: unknown,
  on: { signedIn: (s: Session) => void; gone: (text: string) => void; error: (err: unknown) => void; busy: (b: boolean) => void; clear: () => void },
): Promise<void> {
  on.busy(true);
  try {
    const session = await api.publicPost<Session>(path, body);
    on.clear();
    on.signedIn(session);
  } catch (err) {
    const problem = linkProblem(err);
    if (problem) on.gone(problem);
    else on.error(err);
  } finally {
    on.busy(false);
  }
}

export function InvitePage({ token, onSignedIn }: { token: string; onSignedIn: (s: Session) => void }) {
  const path = `/ui/invite/${encodeURIComponent(token)}`;
  const [info, setInfo] = useState<InvitationInfo | null>(null);
  const [gone, setGone] = useState<string | null>(null);
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    api.publicGet<InvitationInfo>(`${path}/info`).then(setInfo, (err: unknown) => setGone(linkProblem(err) ?? (err instanceof Error ? err.message : String(err))));
  }, [path]);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    if (!name.trim()) {
      setError(new ApiError(400, 'validation_failed', 'Enter your name.', [{ pointer: '/name', message: 'is needed' }]));
      return;
    }
    await postLink(path, { name: name.trim(), password }, { signedIn: onSignedIn, gone: setGone, error: setError, busy: setBusy, clear: () => setPassword('') });
  };
  const nameError = fieldError(error, 'name');
  const passwordError = fieldError(error, 'password');
  return (
    <main class="sign-in">
      <h1>Join Conveyor</h1>
      {gone ? (
        <Gone text={gone} />
      ) : !info ? (
        <p class="loading">Loading…</p>
      ) : (
        <>
          <p>
            You are invited to the workspace <strong>{info.workspace}</strong> as <strong>{info.role}</strong>.
          </p>
          <dl class="facts">
            <dt>Email</dt>
            <dd data-testid="invite-email">{info.email}</dd>
          </dl>
          <form onSubmit={submit} class="sign-in-form">
            <Field id="name" label="Your name" autocomplete="name" value={name} onInput={setName} error={nameError} />
            <Field
              id="new-password"
              label="Password"
              type="password"
              autocomplete="new-password"
              value={password}
              onInput={setPassword}
              error={passwordError}
              hint="At least 12 characters. If you already have an account, enter its password."
            />
            {error && !nameError && !passwordError ? (
              <p class="error" role="alert">
                {error instanceof Error ? error.message : String(error)}
              </p>
            ) : null}
            <button type="submit" class="primary" disabled={busy}>
              Accept invitation
            </button>
          </form>
        </>
      )}
    </main>
  );
}

export function PasswordResetPage({ token, onSignedIn }: { token: string; onSignedIn: (s: Session) => void }) {
  const [password, setPassword] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [gone, setGone] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    await postLink(`/ui/password-reset/${encodeURIComponent(token)}`, { password }, { signedIn: onSignedIn, gone: setGone, error: setError, busy: setBusy, clear: () => setPassword('') });
  };
  const passwordError = fieldError(error, 'password');
  return (
    <main class="sign-in">
      <h1>Set a new password</h1>
      {gone ? (
        <Gone text={gone} />
      ) : (
        <form onSubmit={submit} class="sign-in-form">
          <Field
            id="new-password"
            label="New password"
            type="password"
            autocomplete="new-password"
            value={password}
            onInput={setPassword}
            error={passwordError}
            hint="At least 12 characters. Your other sessions end when it is set."
          />
          {error && !passwordError ? (
            <p class="error" role="alert">
              {error instanceof Error ? error.message : String(error)}
            </p>
          ) : null}
          <button type="submit" class="primary" disabled={busy}>
            Set password
          </button>
        </form>
      )}
    </main>
  );
}
