import { useEffect, useState } from 'preact/hooks';
import { api, fieldError, type Role } from '../api.js';
import { ErrorNote, when } from '../format.js';
import { Field } from '../field.js';

interface Member {
  id: string;
  email: string;
  name: string;
  role: Role;
  memberSince: string;
}

interface Invitation {
  id: string;
  email: string;
  role: Role;
  expiresAt: string;
  mailed: boolean;
  link: string | null;
}

const ROLES: Role[] = ['viewer', 'editor', 'admin'];

/** Admins only (the API refuses others too): who is in this workspace, inviting, roles, removing. */
export function MembersPage() {
  const [items, setItems] = useState<Member[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [note, setNote] = useState<string | null>(null);
  const load = () => api.get<{ items: Member[] }>('/v1/users').then((r) => setItems(r.items), setError);
  useEffect(() => void load(), []);
  // The note comes with the list it describes: reloaded first.
  const done = async (text: string) => {
    setNote(null);
    await load();
    setNote(text);
  };
  return (
    <>
      <h1>Members</h1>
      <InviteForm />
      <h2>People in this workspace</h2>
      <ErrorNote error={error} />
      {note && (
        <p role="status" class="ok-note">
          ✓ {note}
        </p>
      )}
      <div class="table-scroll">
        <table>
          <thead>
            <tr>
              <th scope="col">Email</th>
              <th scope="col">Name</th>
              <th scope="col">Role</th>
              <th scope="col">Member since</th>
              <th scope="col">
                <span class="sr-only">Remove</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {items.map((m) => (
              <MemberRow key={m.id} member={m} onDone={done} onError={setError} />
            ))}
          </tbody>
        </table>
      </div>
      {items.length === 0 && !error && <p class="muted">No people yet: invite someone above. (API keys are not listed here.)</p>}
    </>
  );
}

function MemberRow({ member, onDone, onError }: { member: Member; onDone: (text: string) => Promise<void>; onError: (err: unknown) => void }) {
  const [role, setRole] = useState<Role>(member.role);
  const [confirming, setConfirming] = useState(false);
  const act = async (fn: () => Promise<string>) => {
    onError(null);
    try {
      await onDone(await fn());
    } catch (err) {
      onError(err);
    }
  };
  const saveRole = (e: Event) => {
    e.preventDefault();
    void act(async () => {
      await api.patch(`/v1/users/${member.id}`, { role });
      return `${member.email} is now ${role}.`;
    });
  };
  const remove = () =>
    act(async () => {
      await api.delete(`/v1/users/${member.id}`);
      setConfirming(false);
      return `${member.email} was removed from this workspace; their sessions here have ended.`;
    });
  return (
    <tr data-member={member.email}>
      <td>{member.email}</td>
      <td>{member.name}</td>
      <td>
        <form onSubmit={saveRole} class="inline-form">
          <select aria-label={`Role of ${member.email}`} value={role} onChange={(e) => setRole((e.target as HTMLSelectElement).value as Role)}>
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
          {role !== member.role && <button type="submit">Save role</button>}
        </form>
      </td>
      <td>{when(member.memberSince)}</td>
      <td>
        {confirming ? (
          <span class="actions" role="group" aria-label={`Confirm removing ${member.email}`}>
            <span>Remove {member.email}?</span>
            <button type="button" class="danger" onClick={remove}>
              Yes, remove
            </button>
            <button type="button" onClick={() => setConfirming(false)}>
              Keep
            </button>
          </span>
        ) : (
          <button type="button" onClick={() => setConfirming(true)} aria-label={`Remove ${member.email}`}>
            Remove
          </button>
        )}
      </td>
    </tr>
  );
}

function InviteForm() {
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<Role>('viewer');
  const [error, setError] = useState<unknown>(null);
  const [sent, setSent] = useState<Invitation | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setSent(null);
    setBusy(true);
    try {
      setSent(await api.post<Invitation>('/v1/invitations', { email: email.trim(), role }));
      setEmail('');
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const emailError = fieldError(error, 'email') ?? (error instanceof Error ? error.message : null);
  return (
    <section aria-labelledby="invite-heading">
      <h2 id="invite-heading">Invite someone</h2>
      {/* The server's reasons, beside the field, rather than the browser's bubble. */}
      <form onSubmit={submit} class="inline-form" noValidate>
        <Field id="invite-email" label="Email" type="email" autocomplete="off" value={email} onInput={setEmail} error={emailError} />
        <div class="field">
          <label for="invite-role">Role</label>
          <select id="invite-role" value={role} onChange={(e) => setRole((e.target as HTMLSelectElement).value as Role)}>
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </div>
        <button type="submit" class="primary" disabled={busy}>
          Invite
        </button>
      </form>
      {sent && <InvitationSent invitation={sent} />}
    </section>
  );
}

/** Mailed: say so. Not mailed (no SMTP_URL): the admin copies the link and passes it on themselves. */
function InvitationSent({ invitation }: { invitation: Invitation }) {
  const [copied, setCopied] = useState(false);
  if (invitation.mailed || !invitation.link) {
    return (
      <p role="status" class="ok-note">
        ✓ Invitation mailed to {invitation.email} as {invitation.role}; the link works until {when(invitation.expiresAt)}.
      </p>
    );
  }
  const link = invitation.link;
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(link);
      setCopied(true);
    } catch {
      (document.getElementById('invitation-link') as HTMLInputElement | null)?.select();
    }
  };
  return (
    <div role="status" class="notice">
      <p>
        No mail server is set up (SMTP_URL), so nothing was sent: give {invitation.email} this link yourself. It works once, until {when(invitation.expiresAt)}.
      </p>
      <div class="inline-form">
        <label for="invitation-link">Invitation link</label>
        <input id="invitation-link" readOnly value={link} size={60} onFocus={(e) => (e.target as HTMLInputElement).select()} />
        <button type="button" onClick={copy}>
          {copied ? '✓ Copied' : 'Copy link'}
        </button>
      </div>
    </div>
  );
}
