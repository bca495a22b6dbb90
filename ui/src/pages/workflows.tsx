import { usePagedList } from '../paged-list.js';
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
  const { items, cursor, error, loaded, reload, more } = usePagedList<WorkflowSummary>('/v1/workflows');
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
        <button type="button" onClick={more}>
          More workflows
        </button>
      )}
    </>
  );
}
