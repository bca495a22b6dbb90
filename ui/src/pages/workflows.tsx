import { useEffect, useState } from 'preact/hooks';
import { api, qs, type Page } from '../api.js';
import { ErrorNote, when } from '../format.js';
import { Link } from '../router.js';

interface WorkflowSummary {
  id: string;
  name: string;
  description: string | null;
  version: number;
  archived: boolean;
  updatedAt: string;
}

export function WorkflowsPage() {
  const [items, setItems] = useState<WorkflowSummary[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loaded, setLoaded] = useState(false);
  const load = async (after?: string) => {
    try {
      const page = await api.get<Page<WorkflowSummary>>(`/v1/workflows${qs({ cursor: after, limit: 100 })}`);
      setItems((old) => (after ? [...old, ...page.items] : page.items));
      setCursor(page.nextCursor);
      setLoaded(true);
    } catch (err) {
      setError(err);
    }
  };
  useEffect(() => void load(), []);
  return (
    <>
      <h1>Workflows</h1>
      <ErrorNote error={error} />
      <div class="table-scroll">
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Version</th>
              <th scope="col">Description</th>
              <th scope="col">Updated</th>
            </tr>
          </thead>
          <tbody>
            {items.map((w) => (
              <tr key={w.id}>
                <td>
                  <Link href={`/ui/workflows/${encodeURIComponent(w.name)}`}>{w.name}</Link>
                  {w.archived && <span class="muted"> (archived)</span>}
                </td>
                <td>v{w.version}</td>
                <td>{w.description ?? ''}</td>
                <td>{when(w.updatedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {loaded && items.length === 0 && <p class="muted">No workflows yet: create one with POST /v1/workflows.</p>}
      {cursor && (
        <button type="button" onClick={() => load(cursor)}>
          More workflows
        </button>
      )}
    </>
  );
}
