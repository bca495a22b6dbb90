import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, isAdmin, useSession, type Session } from './api.js';
import { SignIn } from './pages/sign-in.js';
import { RunsPage } from './pages/runs.js';
import { RunPage } from './pages/run.js';
import { WorkflowsPage } from './pages/workflows.js';
import { WorkflowPage } from './pages/workflow.js';
import { SchedulesPage } from './pages/schedules.js';
import { SystemPage } from './pages/system.js';
import { AccountPage } from './pages/account.js';
import { MembersPage } from './pages/members.js';
import { InvitePage, PasswordResetPage } from './pages/token-links.js';
import { Link, navigate, useLocation } from './router.js';

/** undefined while asking the server who we are; null when signed out. */
type State = Session | null | undefined;

export function App() {
  const [session, setSession] = useState<State>(undefined);
  const [message, setMessage] = useState<string | null>(null);
  const { path } = useLocation();
  useSession(session ?? null, (msg) => {
    setMessage(msg);
    setSession(null);
  });
  useEffect(() => {
    api.session().then(setSession, (err: unknown) => {
      if (err instanceof ApiError && err.code === 'session_ended') setMessage('Your session has ended (signed out, expired after 12 hours, or its key was revoked). Sign in again.');
      setSession(null);
    });
  }, []);

  // A mailed link's page works signed in or not; once used, the URL with its token is replaced.
  const link = /^\/ui\/(invite|password-reset)\/([^/]+)$/.exec(path);
  if (link) {
    const signedIn = (s: Session) => {
      setMessage(null);
      setSession(s);
      navigate('/ui/', true);
    };
    const token = decodeURIComponent(link[2]!);
    return link[1] === 'invite' ? <InvitePage token={token} onSignedIn={signedIn} /> : <PasswordResetPage token={token} onSignedIn={signedIn} />;
  }
  if (session === undefined) return <p class="loading">Loading…</p>;
  if (session === null)
    return (
      <SignIn
        message={message}
        onSignedIn={(s) => {
          setMessage(null);
          setSession(s);
        }}
      />
    );
  return (
    <Shell
      session={session}
      onSessionChange={setSession}
      onSignOut={async () => {
        await api.signOut().catch(() => {});
        setMessage('You signed out.');
        setSession(null);
      }}
    />
  );
}

function Shell({ session, onSignOut, onSessionChange }: { session: Session; onSignOut: () => void; onSessionChange: (s: Session) => void }) {
  const { path, search } = useLocation();
  const sub = path.replace(/^\/ui\/?/, '');
  const [head, rest] = [sub.split('/')[0] ?? '', decodeURIComponent(sub.split('/').slice(1).join('/'))];
  let page;
  if (head === '' || head === 'runs') page = rest ? <RunPage id={rest} session={session} /> : <RunsPage search={search} />;
  else if (head === 'workflows') page = rest ? <WorkflowPage name={rest} session={session} /> : <WorkflowsPage />;
  else if (head === 'schedules') page = <SchedulesPage session={session} />;
  else if (head === 'system') page = <SystemPage session={session} />;
  else if (head === 'account') page = <AccountPage onSessionChange={onSessionChange} />;
  else if (head === 'members') page = isAdmin(session) ? <MembersPage /> : <p>Only admins see the members. <Link href="/ui/account">See your account.</Link></p>;
  else page = <p>No such page. <Link href="/ui/">See the runs.</Link></p>;
  const current = (name: string) => (head === name || (name === 'runs' && head === '') ? 'page' : undefined);
  return (
    <>
      <header class="top">
        <nav aria-label="Main">
          <strong class="brand">Conveyor</strong>
          <Link href="/ui/" aria-current={current('runs')}>Runs</Link>
          <Link href="/ui/workflows" aria-current={current('workflows')}>Workflows</Link>
          <Link href="/ui/schedules" aria-current={current('schedules')}>Schedules</Link>
          {session.bullBoard && <Link href="/ui/system" aria-current={current('system')}>System</Link>}
          {isAdmin(session) && <Link href="/ui/members" aria-current={current('members')}>Members</Link>}
        </nav>
        <div class="who">
          <Link href="/ui/account" aria-current={current('account')}>Account</Link>
          <span class="role" title="your role in this workspace">{session.role}</span>
          <button type="button" onClick={onSignOut}>
            Sign out
          </button>
        </div>
      </header>
      <main>{page}</main>
    </>
  );
}
