import { useEffect, useState } from 'preact/hooks';
import { api, fieldError, type Role, type Session } from '../api.js';
import { ErrorNote, short, when } from '../format.js';
import { Field } from '../field.js';

type Me =
  | { kind: 'user'; id: string; email: string; name: string; workspace: { id: string; name: string }; role: Role; workspaces: { id: string; name: string; role: Role }[] }
  | { kind: 'api_key'; keyId: string; workspace: { id: string; name: string }; role: Role };

interface SessionRow {
  id: string;
  workspace: string;
  createdAt: string;
  expiresAt: string;
  current: boolean;
}

/** Who is signed in; for a person: their name, password, sessions and workspaces. A key has no account. */
export function AccountPage({ onSessionChange }: { onSessionChange: (s: Session) => void }) {
  const [me, setMe] = useState<Me | null>(null);
  const [error, setError] = useState<unknown>(null);
  const load = () => api.get<Me>('/v1/me').then(setMe, setError);
  useEffect(() => void load(), []);
  // The session now carries another workspace and role: the whole console follows it.
  const switched = async () => {
    await load();
    onSessionChange(await api.session());
  };
  return (
    <>
      <h1>Account</h1>
      <ErrorNote error={error} />
      {me && (
        <dl class="facts">
          {me.kind === 'user' ? (
            <>
              <dt>Signed in as</dt>
              <dd>
                {me.name} &lt;{me.email}&gt;
              </dd>
            </>
          ) : (
            <>
              <dt>Signed in with</dt>
              <dd>
                API key <code>{short(me.keyId)}</code> <span class="muted">(a key has no account: name, password and workspaces belong to people)</span>
              </dd>
            </>
          )}
          <dt>Workspace</dt>
          <dd>{me.workspace.name}</dd>
          <dt>Role</dt>
          <dd>{me.role}</dd>
        </dl>
      )}
      {me?.kind === 'user' && (
        <>
          <NameForm name={me.name} onSaved={(name) => setMe({ ...me, name })} />
          <PasswordForm />
          {me.workspaces.length > 1 && <WorkspaceSwitch me={me} onSwitched={switched} />}
        </>
      )}
      {me && <Sessions />}
    </>
  );
}

function NameForm({ name, onSaved }: { name: string; onSaved: (name: string) => void }) {
  const [value, setValue] = useState(name);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setDone(false);
    try {
      const saved = await api.patch<{ name: string }>('/v1/me', { name: value.trim() });
      onSaved(saved.name);
      setDone(true);
    } catch (err) {
      setError(err);
    }
  };
  const problem = fieldError(error, 'name') ?? (error instanceof Error ? error.message : null);
  return (
    <section aria-labelledby="name-heading">
      <h2 id="name-heading">Your name</h2>
      <form onSubmit={submit} class="inline-form">
        <Field id="account-name" label="Name" autocomplete="name" value={value} onInput={setValue} error={problem} />
        <button type="submit">Save name</button>
      </form>
      {done && (
        <p role="status" class="ok-note">
          ✓ Name saved.
        </p>
      )}
    </section>
  );
}

function PasswordForm() {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState(false);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setDone(false);
    setBusy(true);
    try {
      await api.post('/v1/me/password', { currentPassword: current, newPassword: next });
      setCurrent('');
      setNext('');
      setDone(true);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const currentError = fieldError(error, 'currentPassword');
  const nextError = fieldError(error, 'newPassword');
  return (
    <section aria-labelledby="password-heading">
      <h2 id="password-heading">Change password</h2>
      <form onSubmit={submit} class="stacked-form">
        <Field id="current-password" label="Current password" type="password" autocomplete="current-password" value={current} onInput={setCurrent} error={currentError} />
        <Field id="account-new-password" label="New password" type="password" autocomplete="new-password" value={next} onInput={setNext} error={nextError} hint="At least 12 characters." />
        {error && !currentError && !nextError ? <ErrorNote error={error} /> : null}
        <button type="submit" disabled={busy}>
          Change password
        </button>
      </form>
      {done && (
        <p role="status" class="ok-note">
          ✓ Password changed. Your other sessions have ended; this one stays signed in.
        </p>
      )}
    </section>
  );
}

function WorkspaceSwitch({ me, onSwitched }: { me: Extract<Me, { kind: 'user' }>; onSwitched: () => Promise<void> }) {
  const [target, setTarget] = useState(me.workspace.id);
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      await api.put('/v1/me/workspace', { workspaceId: target });
      await onSwitched();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <section aria-labelledby="workspace-heading">
      <h2 id="workspace-heading">Workspace</h2>
      <form onSubmit={submit} class="inline-form">
        <div class="field">
          <label for="workspace">Workspace</label>
          <select id="workspace" value={target} onChange={(e) => setTarget((e.target as HTMLSelectElement).value)}>
            {me.workspaces.map((w) => (
              <option key={w.id} value={w.id}>
                {w.name} ({w.role}){w.id === me.workspace.id ? ' · current' : ''}
              </option>
            ))}
          </select>
        </div>
        <button type="submit" disabled={target === me.workspace.id}>
          Switch workspace
        </button>
      </form>
      <ErrorNote error={error} />
    </section>
  );
}

function Sessions() {
  const [items, setItems] = useState<SessionRow[]>([]);
  const [error, setError] = useState<unknown>(null);
  const load = () => api.get<{ items: SessionRow[] }>('/v1/me/sessions').then((r) => setItems(r.items), setError);
  useEffect(() => void load(), []);
  const end = async (id: string) => {
    setError(null);
    try {
      await api.delete(`/v1/me/sessions/${id}`);
      await load();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <section aria-labelledby="sessions-heading">
      <h2 id="sessions-heading">Sessions</h2>
      <ErrorNote error={error} />
      <div class="table-scroll">
        <table>
          <thead>
            <tr>
              <th scope="col">Started</th>
              <th scope="col">Workspace</th>
              <th scope="col">Expires</th>
              <th scope="col">
                <span class="sr-only">Action</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {items.map((s) => (
              <tr key={s.id} data-session-id={s.id} data-current={s.current ? 'true' : undefined}>
                <td>{when(s.createdAt)}</td>
                <td>{s.workspace}</td>
                <td>{when(s.expiresAt)}</td>
                <td>
                  {s.current ? (
                    <strong>● current (this browser)</strong>
                  ) : (
                    <button type="button" onClick={() => end(s.id)} aria-label={`End the session started ${when(s.createdAt)}`}>
                      End
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
