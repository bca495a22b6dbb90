import { useState } from 'preact/hooks';
import { api, canEdit, type Session } from '../api.js';
import { usePagedList } from '../paged-list.js';
import { ErrorNote, when } from '../format.js';
import { Link } from '../router.js';

export interface Schedule {
  id: string;
  workflowName: string;
  cron: string;
  timezone: string;
  enabled: boolean;
  nextFireTimes: string[];
}

export function ScheduleTable({ items, session, onChange }: { items: Schedule[]; session: Session; onChange: () => void }) {
  const [error, setError] = useState<unknown>(null);
  const toggle = async (s: Schedule) => {
    setError(null);
    try {
      await api.patch(`/v1/schedules/${s.id}`, { enabled: !s.enabled });
      onChange();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <>
      <ErrorNote error={error} />
      <div class="table-scroll">
        <table>
          <thead>
            <tr>
              <th scope="col">Workflow</th>
              <th scope="col">Cron</th>
              <th scope="col">Time zone</th>
              <th scope="col">State</th>
              <th scope="col">Next fire times</th>
              {canEdit(session) && <th scope="col">Change</th>}
            </tr>
          </thead>
          <tbody>
            {items.map((s) => (
              <tr key={s.id}>
                <td>
                  <Link href={`/ui/workflows/${encodeURIComponent(s.workflowName)}`}>{s.workflowName}</Link>
                </td>
                <td>
                  <code>{s.cron}</code>
                </td>
                <td>{s.timezone}</td>
                <td>{s.enabled ? '● enabled' : '○ disabled'}</td>
                <td>{s.nextFireTimes.length ? s.nextFireTimes.slice(0, 3).map(when).join(' · ') : '—'}</td>
                {canEdit(session) && (
                  <td>
                    <button type="button" onClick={() => toggle(s)} aria-label={`${s.enabled ? 'Disable' : 'Enable'} schedule ${s.cron} of ${s.workflowName}`}>
                      {s.enabled ? 'Disable' : 'Enable'}
                    </button>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

export function SchedulesPage({ session }: { session: Session }) {
  const { items, cursor, error, loaded, reload, more } = usePagedList<Schedule>('/v1/schedules');
  return (
    <>
      <h1>Schedules</h1>
      <ErrorNote error={error} />
      <ScheduleTable items={items} session={session} onChange={reload} />
      {loaded && items.length === 0 && <p class="muted">No schedules.</p>}
      {cursor && (
        <button type="button" onClick={more}>
          More schedules
        </button>
      )}
    </>
  );
}
