import { useEffect, useState } from 'preact/hooks';
import { api, type Session } from '../api.js';
import { ErrorNote, when } from '../format.js';

interface SystemStatus {
  checkedAt: string;
  workers: { id: string; host: string; pid: number; queues: string[]; concurrency: number; inFlight: number; jobsTaken: number; heartbeatAt: string; status: 'ok' | 'stuck'; problem: string | null }[];
  stuck: { id: string; host: string; pid: number; reason: string; message: string }[];
  queues: ({ name: string } & Record<string, number>)[] | null;
  queueError: string | null;
}

const STATES = ['waiting', 'prioritized', 'active', 'delayed', 'failed', 'completed'];

export function SystemPage({ session }: { session: Session }) {
  const [status, setStatus] = useState<SystemStatus | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout>;
    let live = true;
    const load = async () => {
      try {
        const s = await api.get<SystemStatus>('/v1/system');
        if (live) {
          setStatus(s);
          setError(null);
        }
      } catch (err) {
        if (live) setError(err);
      }
      if (live) timer = setTimeout(load, 5000);
    };
    void load();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, []);
  return (
    <>
      <h1>System</h1>
      {session.bullBoard && (
        <p>
          <a href={session.bullBoard.path} target="_blank" rel="noopener">
            Open Bull Board
          </a>{' '}
          (user name: anything; password: an admin key)
        </p>
      )}
      <ErrorNote error={error} />
      {status && (
        <>
          <p class="muted">Checked {when(status.checkedAt)}; refreshed every 5 s.</p>
          <h2>Stuck consumers</h2>
          {status.stuck.length ? (
            <ul>
              {status.stuck.map((s) => (
                <li key={s.id}>
                  ⚠ {s.host} pid {s.pid}: {s.message}
                </li>
              ))}
            </ul>
          ) : (
            <p>None.</p>
          )}
          <h2>Workers</h2>
          <div class="table-scroll">
            <table>
              <thead>
                <tr>
                  <th scope="col">Worker</th>
                  <th scope="col">Queues</th>
                  <th scope="col">In flight</th>
                  <th scope="col">Jobs taken</th>
                  <th scope="col">Last heartbeat</th>
                  <th scope="col">State</th>
                </tr>
              </thead>
              <tbody>
                {status.workers.map((w) => (
                  <tr key={w.id}>
                    <td>
                      {w.host} pid {w.pid}
                    </td>
                    <td>{w.queues.join(', ')}</td>
                    <td>
                      {w.inFlight} / {w.concurrency}
                    </td>
                    <td>{w.jobsTaken}</td>
                    <td>{when(w.heartbeatAt)}</td>
                    <td>{w.status === 'ok' ? '✓ ok' : `⚠ stuck: ${w.problem}`}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {status.workers.length === 0 && <p class="muted">No worker heard from in the last 30 s.</p>}
          <h2>Queue depths</h2>
          {status.queueError && <p class="error">{status.queueError}</p>}
          {status.queues && (
            <div class="table-scroll">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Queue</th>
                    {STATES.map((s) => (
                      <th scope="col" key={s}>
                        {s}
                      </th>
                    ))}
                  </tr>
                </thead>
                <tbody>
                  {status.queues.map((q) => (
                    <tr key={q.name}>
                      <td>{q.name}</td>
                      {STATES.map((s) => (
                        <td key={s}>{q[s] ?? 0}</td>
                      ))}
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
    </>
  );
}
