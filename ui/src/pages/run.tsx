import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, ApiError, canEdit, type Session } from '../api.js';
import { Dag, type DagEdge } from '../dag.js';
import { ErrorNote, Json, Status, duration, short, when } from '../format.js';
import { JsonField, useJsonField } from '../json-input.js';
import { useLiveRun, type RunNode } from '../live-run.js';
import { Link, navigate } from '../router.js';

export interface DefinitionNode {
  id: string;
  type: string;
  description?: string;
  params?: Record<string, unknown>;
  when?: string;
  retry?: unknown;
  timeoutMs?: number;
}
export interface Definition {
  name: string;
  version: number;
  nodes: DefinitionNode[];
  edges: DagEdge[];
  webhook: { path: string; secret?: string } | null;
}

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);

export function RunPage({ id, session }: { id: string; session: Session }) {
  const { run, statuses, runStatus, error, reload } = useLiveRun(id);
  // undefined while loading; null when the definition could not be read (the DAG then has no edges).
  const [def, setDef] = useState<Definition | null | undefined>(undefined);
  const [selected, setSelected] = useState<string | null>(null);
  const [actionError, setActionError] = useState<unknown>(null);
  const editor = canEdit(session);

  useEffect(() => {
    if (!run || (def && def.version === run.version)) return;
    api.get<Definition>(`/v1/workflows/${run.workflowId}?version=${run.version}`).then(setDef, () => setDef(null));
  }, [run?.workflowId, run?.version]);

  const nodes = useMemo(() => def?.nodes ?? run?.nodes.map((n) => ({ id: n.id, type: n.type })) ?? [], [def, run === null]);
  const ready = def !== undefined;
  const edges = useMemo(() => def?.edges ?? [], [def]);

  if (!run) return error ? <ErrorNote error={error} /> : <p class="loading">Loading run…</p>;
  const status = runStatus ?? run.status;
  const act = async (what: 'cancel' | 'retry') => {
    setActionError(null);
    try {
      const res = await api.post<{ id: string }>(`/v1/runs/${run.id}/${what}`);
      if (what === 'retry' && res?.id && res.id !== run.id) navigate(`/ui/runs/${res.id}`);
      else reload();
    } catch (err) {
      setActionError(err);
    }
  };
  const node = selected ? run.nodes.find((n) => n.id === selected) : undefined;
  const nodeDef = selected ? def?.nodes.find((n) => n.id === selected) : undefined;

  return (
    <>
      <h1>
        Run <code>{short(run.id)}</code> of <Link href={`/ui/workflows/${encodeURIComponent(run.workflowName)}`}>{run.workflowName}</Link> <span class="muted">v{run.version}</span>
      </h1>
      <div class="run-head">
        <p class="run-status">
          Status: <Status status={status} />
          {run.waitingFor && !TERMINAL.has(status) && <span class="muted"> waiting for {run.waitingFor}</span>}
        </p>
        {editor && (
          <div class="actions">
            {!TERMINAL.has(status) && (
              <button type="button" onClick={() => act('cancel')}>
                Cancel
              </button>
            )}
            {(status === 'failed' || status === 'cancelled') && (
              <button type="button" onClick={() => act('retry')}>
                Retry
              </button>
            )}
          </div>
        )}
      </div>
      <ErrorNote error={actionError} />
      <dl class="facts">
        <dt>Trigger</dt>
        <dd>{run.trigger.type}</dd>
        <dt>Created</dt>
        <dd>{when(run.createdAt)}</dd>
        <dt>Duration</dt>
        <dd>{duration(run.startedAt, run.finishedAt)}</dd>
        {run.retryOf && (
          <>
            <dt>Retry of</dt>
            <dd>
              <Link href={`/ui/runs/${run.retryOf}`}>{short(run.retryOf)}</Link>
            </dd>
          </>
        )}
        {run.parentRunId && (
          <>
            <dt>Parent run</dt>
            <dd>
              <Link href={`/ui/runs/${run.parentRunId}`}>{short(run.parentRunId)}</Link>
            </dd>
          </>
        )}
      </dl>
      <div class="run-body">
        {ready ? <Dag nodes={nodes} edges={edges} statuses={statuses} selected={selected} onSelect={setSelected} label={`Nodes of run ${short(run.id)}: select one for its details`} /> : <p class="loading">Drawing the graph…</p>}
        <aside class="panel" aria-label="Node details">
          {node ? <NodePanel key={node.id} run={run.id} node={node} def={nodeDef} status={statuses[node.id] ?? node.status} session={session} onDone={reload} /> : <p class="muted">Select a node to see its params, output, error and timing.</p>}
        </aside>
      </div>
      <details open={status === 'failed'}>
        <summary>Run input, output and error</summary>
        <h2>Input</h2>
        <Json value={run.input} label="run input" />
        <h2>Output</h2>
        <Json value={run.output ?? undefined} label="run output" />
        {run.error && (
          <>
            <h2>Error</h2>
            <Json value={run.error} label="run error" />
          </>
        )}
      </details>
    </>
  );
}

function NodePanel({ run, node, def, status, session, onDone }: { run: string; node: RunNode; def?: DefinitionNode; status: string; session: Session; onDone: () => void }) {
  const payload = useJsonField('{}');
  const [sendError, setSendError] = useState<unknown>(null);
  const [sent, setSent] = useState(false);
  const board = session.bullBoard;
  const hasJob = !['pending', 'skipped'].includes(status) && node.type !== 'wait.signal';
  const signal = async (e: Event) => {
    e.preventDefault();
    setSendError(null);
    const parsed = payload.take();
    if (!parsed) return;
    try {
      await api.post(`/v1/runs/${run}/nodes/${node.id}/signal`, { payload: parsed.value });
      setSent(true);
      onDone();
    } catch (err) {
      if (err instanceof ApiError && err.status === 400) payload.setError(err.message);
      else setSendError(err);
    }
  };
  return (
    <>
      <h2>
        <code>{node.id}</code> <span class="muted">{node.type}</span>
      </h2>
      <p>
        <Status status={status} />
      </p>
      <dl class="facts">
        <dt>Attempts</dt>
        <dd>{node.attempts}</dd>
        <dt>Started</dt>
        <dd>{when(node.startedAt)}</dd>
        <dt>Finished</dt>
        <dd>{when(node.finishedAt)}</dd>
        <dt>Duration</dt>
        <dd>{duration(node.startedAt, node.finishedAt)}</dd>
        <dt>Waiting for</dt>
        <dd>{status === 'waiting' ? (node.waitingFor ?? '—') : '—'}</dd>
        {node.childRunId && (
          <>
            <dt>Child run</dt>
            <dd>
              <Link href={`/ui/runs/${node.childRunId}`}>{short(node.childRunId)}</Link>
            </dd>
          </>
        )}
      </dl>
      {board && hasJob && (
        <p>
          <a href={`${board.path}/queue/${encodeURIComponent(board.queues[node.type] ?? board.defaultQueue)}/${encodeURIComponent(`n.${run}.${node.id}`)}`} target="_blank" rel="noopener">
            This node's job in Bull Board
          </a>
        </p>
      )}
      <h3>Params</h3>
      {node.params !== null && node.params !== undefined ? (
        <>
          <p class="muted small">As the node last ran: expressions resolved, secrets redacted.</p>
          <Json value={node.params} label="resolved node params" />
          <details>
            <summary>As defined</summary>
            <Json value={def?.params ?? {}} label="node params as defined" />
          </details>
        </>
      ) : (
        <>
          <p class="muted small">As defined; expressions are resolved when the node runs.</p>
          <Json value={def?.params ?? {}} label="node params" />
        </>
      )}
      {def?.when && (
        <p>
          Runs when <code>{def.when}</code>
        </p>
      )}
      <h3>Output</h3>
      <Json value={node.output ?? undefined} label="node output" />
      {node.error && (
        <>
          <h3>Error</h3>
          <p class="error">
            <code>{node.error.code}</code>: {node.error.message}
          </p>
        </>
      )}
      {canEdit(session) && status === 'waiting' && node.type === 'wait.signal' && (
        <form onSubmit={signal} class="signal">
          <JsonField id="signal-payload" label="Signal payload (JSON)" value={payload.text} onInput={payload.onInput} error={payload.error} rows={4} />
          <button type="submit">Signal</button>
          {sent && <p role="status">Signal sent.</p>}
          <ErrorNote error={sendError} />
        </form>
      )}
    </>
  );
}
