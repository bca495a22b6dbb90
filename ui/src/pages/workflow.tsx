import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, ApiError, canEdit, qs, type Page, type Session } from '../api.js';
import { Dag } from '../dag.js';
import { ErrorNote, when } from '../format.js';
import { diffJson } from '../json-diff.js';
import { JsonField, useJsonField } from '../json-input.js';
import { navigate } from '../router.js';
import type { Definition } from './run.js';
import { RunList } from './runs.js';
import { ScheduleTable, type Schedule } from './schedules.js';

interface Workflow extends Definition {
  id: string;
  description: string | null;
  archived: boolean;
}
interface Version {
  version: number;
  createdAt: string;
}

export function WorkflowPage({ name, session }: { name: string; session: Session }) {
  const [wf, setWf] = useState<Workflow | null>(null);
  const [versions, setVersions] = useState<Version[]>([]);
  const [schedules, setSchedules] = useState<Schedule[]>([]);
  const [error, setError] = useState<unknown>(null);
  const load = () => {
    api.get<Workflow>(`/v1/workflows/${encodeURIComponent(name)}`).then(setWf, setError);
    api.get<{ items: Version[] }>(`/v1/workflows/${encodeURIComponent(name)}/versions`).then((v) => setVersions(v.items), setError);
    api.get<Page<Schedule>>(`/v1/schedules${qs({ workflow: name, limit: 200 })}`).then((p) => setSchedules(p.items), setError);
  };
  useEffect(load, [name]);
  const nodes = useMemo(() => wf?.nodes ?? [], [wf]);
  const edges = useMemo(() => wf?.edges ?? [], [wf]);

  if (!wf) return error ? <ErrorNote error={error} /> : <p class="loading">Loading workflow…</p>;
  return (
    <>
      <h1>
        {wf.name} <span class="muted">v{wf.version}</span>
        {wf.archived && <span class="muted"> (archived)</span>}
      </h1>
      {wf.description && <p>{wf.description}</p>}
      {canEdit(session) && !wf.archived && <RunForm workflow={wf.name} />}
      <h2>Latest version</h2>
      <Dag nodes={nodes} edges={edges} label={`Nodes of ${wf.name} v${wf.version}`} />
      <h2>Webhook</h2>
      {wf.webhook ? (
        <p>
          <code>POST /hooks/{wf.webhook.path}</code>
          {wf.webhook.secret ? ` signed with the credential ${wf.webhook.secret}` : ' (unsigned)'}
        </p>
      ) : (
        <p class="muted">No webhook.</p>
      )}
      <h2>Schedules</h2>
      {schedules.length ? <ScheduleTable items={schedules} session={session} onChange={load} /> : <p class="muted">No schedules.</p>}
      <h2>Versions</h2>
      <Versions name={wf.name} versions={versions} />
      <h2>Runs</h2>
      <RunList workflow={wf.id} limit={20} />
    </>
  );
}

function RunForm({ workflow }: { workflow: string }) {
  const [open, setOpen] = useState(false);
  const input = useJsonField('{}');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    const parsed = input.take();
    if (!parsed) return;
    setBusy(true);
    try {
      const run = await api.post<{ id: string }>(`/v1/workflows/${encodeURIComponent(workflow)}/runs`, parsed.value === undefined ? {} : { input: parsed.value });
      navigate(`/ui/runs/${run.id}`);
    } catch (err) {
      if (err instanceof ApiError && err.status === 400) input.setError(err.details.length ? `${err.message} ${err.details.map((d) => `${d.pointer ?? ''} ${d.message}`).join('; ')}` : err.message);
      else setError(err);
    } finally {
      setBusy(false);
    }
  };
  if (!open)
    return (
      <button type="button" class="primary" onClick={() => setOpen(true)}>
        Run
      </button>
    );
  return (
    <form class="run-form" onSubmit={submit}>
      <JsonField id="run-input" label="Input (JSON)" value={input.text} onInput={input.onInput} error={input.error} />
      <button type="submit" class="primary" disabled={busy}>
        Start run
      </button>
      <button type="button" onClick={() => setOpen(false)}>
        Close
      </button>
      <ErrorNote error={error} />
    </form>
  );
}

function Versions({ name, versions }: { name: string; versions: Version[] }) {
  const [a, setA] = useState<number | null>(null);
  const [b, setB] = useState<number | null>(null);
  const [diff, setDiff] = useState<ReturnType<typeof diffJson> | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    if (versions.length >= 2 && a === null) {
      setA(versions[1]!.version);
      setB(versions[0]!.version);
    }
  }, [versions]);
  const compare = async (e: Event) => {
    e.preventDefault();
    if (a === null || b === null) return;
    try {
      const strip = ({ nodes, edges, webhook, concurrency, timeoutMs, description }: Record<string, unknown>) => ({ description, concurrency, timeoutMs, webhook, nodes, edges });
      const [x, y] = await Promise.all([a, b].map((v) => api.get<Record<string, unknown>>(`/v1/workflows/${encodeURIComponent(name)}?version=${v}`)));
      setDiff(diffJson(strip(x!), strip(y!)));
    } catch (err) {
      setError(err);
    }
  };
  const select = (id: string, label: string, value: number | null, set: (v: number) => void) => (
    <>
      <label for={id}>{label}</label>
      <select id={id} value={value ?? ''} onChange={(e) => set(Number((e.target as HTMLSelectElement).value))}>
        {versions.map((v) => (
          <option key={v.version} value={v.version}>
            v{v.version} ({when(v.createdAt)})
          </option>
        ))}
      </select>
    </>
  );
  return (
    <>
      <ul class="versions">
        {versions.map((v) => (
          <li key={v.version}>
            v{v.version} · {when(v.createdAt)}
          </li>
        ))}
      </ul>
      {versions.length >= 2 && (
        <form class="filters" onSubmit={compare}>
          {select('diff-from', 'Compare', a, setA)}
          {select('diff-to', 'with', b, setB)}
          <button type="submit">Show diff</button>
        </form>
      )}
      <ErrorNote error={error} />
      {diff && (
        <pre class="diff" aria-label="Differences between the two versions" tabIndex={0}>
          {diff.map((l, i) => (
            <div key={i} class={`diff-${l.kind}`}>
              {l.kind === 'added' ? '+ ' : l.kind === 'removed' ? '- ' : '  '}
              {l.text}
            </div>
          ))}
        </pre>
      )}
    </>
  );
}
