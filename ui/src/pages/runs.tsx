import { useEffect, useRef, useState } from 'preact/hooks';
import { api, qs, type Page } from '../api.js';
import { ErrorNote, Status, duration, short, when } from '../format.js';
import { Link, navigate } from '../router.js';

export interface RunSummary {
  id: string;
  workflowId: string;
  workflowName: string;
  version: number;
  status: string;
  trigger: { type: string };
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

const STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];
/** The first page is re-read this often: new runs appear and statuses move without a reload. */
const REFRESH_MS = 2000;

/** Newest first; older pages by keyset cursor; the first page merged in live. */
export function RunList({ workflow, status, limit = 50 }: { workflow?: string; status?: string; limit?: number }) {
  const [items, setItems] = useState<RunSummary[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loaded, setLoaded] = useState(false);
  const query = qs({ workflow, status, limit });
  const generation = useRef(0);

  useEffect(() => {
    const gen = ++generation.current;
    let timer: ReturnType<typeof setTimeout> | undefined;
    setItems([]);
    setCursor(null);
    setLoaded(false);
    const refresh = async (first: boolean) => {
      try {
        const page = await api.get<Page<RunSummary>>(`/v1/runs${query}`);
        if (gen !== generation.current) return;
        setError(null);
        setItems((old) => {
          if (first) return page.items;
          const fresh = new Set(page.items.map((r) => r.id));
          const oldest = page.items[page.items.length - 1];
          // Older pages the user loaded stay below the fresh first page.
          const older = page.nextCursor && oldest ? old.filter((r) => !fresh.has(r.id) && (r.createdAt < oldest.createdAt || (r.createdAt === oldest.createdAt && r.id < oldest.id))) : [];
          return [...page.items, ...older];
        });
        if (first) setCursor(page.nextCursor);
        setLoaded(true);
      } catch (err) {
        if (gen === generation.current) setError(err);
      }
      if (gen === generation.current) timer = setTimeout(() => void refresh(false), REFRESH_MS);
    };
    void refresh(true);
    return () => {
      generation.current++;
      clearTimeout(timer);
    };
  }, [query]);

  const more = async () => {
    if (!cursor) return;
    try {
      const page = await api.get<Page<RunSummary>>(`/v1/runs${qs({ workflow, status, limit, cursor })}`);
      setItems((old) => [...old, ...page.items.filter((r) => !old.some((o) => o.id === r.id))]);
      setCursor(page.nextCursor);
    } catch (err) {
      setError(err);
    }
  };

  return (
    <section aria-live="polite" aria-busy={!loaded}>
      <ErrorNote error={error} />
      <div class="table-scroll">
        <table class="runs">
          <caption class="sr-only">Runs, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Run</th>
              <th scope="col">Workflow</th>
              <th scope="col">Status</th>
              <th scope="col">Trigger</th>
              <th scope="col">Created</th>
              <th scope="col">Duration</th>
            </tr>
          </thead>
          <tbody>
            {items.map((r) => (
              <tr key={r.id} data-run-id={r.id}>
                <td>
                  <Link href={`/ui/runs/${r.id}`}>{short(r.id)}</Link>
                </td>
                <td>
                  <Link href={`/ui/workflows/${encodeURIComponent(r.workflowName)}`}>{r.workflowName}</Link> <span class="muted">v{r.version}</span>
                </td>
                <td>
                  <Status status={r.status} />
                </td>
                <td>{r.trigger.type}</td>
                <td>{when(r.createdAt)}</td>
                <td>{duration(r.startedAt, r.finishedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {loaded && items.length === 0 && <p class="muted">{status ? 'No runs match.' : 'No runs yet.'}</p>}
      {cursor && (
        <button type="button" onClick={more}>
          Older runs
        </button>
      )}
    </section>
  );
}

export function RunsPage({ search }: { search: URLSearchParams }) {
  const workflow = search.get('workflow') ?? '';
  const status = search.get('status') ?? '';
  const [draft, setDraft] = useState(workflow);
  useEffect(() => setDraft(workflow), [workflow]);
  const apply = (next: { workflow?: string; status?: string }) => navigate(`/ui/${qs({ workflow, status, ...next })}`, true);
  return (
    <>
      <h1>Runs</h1>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          apply({ workflow: draft.trim() });
        }}
      >
        <label for="filter-workflow">Workflow</label>
        <input id="filter-workflow" value={draft} placeholder="name or id" onInput={(e) => setDraft((e.target as HTMLInputElement).value)} onBlur={() => draft.trim() !== workflow && apply({ workflow: draft.trim() })} />
        <label for="filter-status">Status</label>
        <select id="filter-status" value={status} onChange={(e) => apply({ status: (e.target as HTMLSelectElement).value })}>
          <option value="">any</option>
          {STATUSES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
        <button type="submit">Filter</button>
      </form>
      <RunList workflow={workflow || undefined} status={status || undefined} />
    </>
  );
}
