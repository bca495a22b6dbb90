import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from './api.js';

export interface RunNode {
  id: string;
  type: string;
  status: string;
  attempts: number;
  /** The params it last ran with (expressions resolved, secrets redacted); null before it ran. */
  params?: unknown;
  output: unknown;
  error: { code: string; message: string } | null;
  waitingFor: string | null;
  childRunId?: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface Run {
  id: string;
  workflowId: string;
  workflowName: string;
  version: number;
  status: string;
  input: unknown;
  output: unknown;
  error: { code: string; message: string } | null;
  trigger: { type: string };
  retryOf: string | null;
  parentRunId: string | null;
  waitingFor: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  nodes: RunNode[];
}

const NODE_STATUS: Record<string, string> = {
  'node.queued': 'queued',
  'node.started': 'running',
  'node.waiting': 'waiting',
  'node.succeeded': 'succeeded',
  'node.failed': 'failed',
  'node.retrying': 'queued',
  'node.skipped': 'skipped',
  'node.cancelled': 'cancelled',
};
const RUN_STATUS: Record<string, string> = { 'run.queued': 'queued', 'run.started': 'running', 'run.succeeded': 'succeeded', 'run.failed': 'failed', 'run.cancelled': 'cancelled' };
const EVENT_TYPES = [...Object.keys(NODE_STATUS), ...Object.keys(RUN_STATUS)];
const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);
/** Details (outputs, errors, attempts) are re-read at most this often while events stream in. */
const REFETCH_MS = 1500;
/** Status changes from events are applied together, at most this often. */
const FLUSH_MS = 100;

/**
 * A run kept current from its SSE stream. Statuses from events are buffered and applied together
 * every FLUSH_MS (a burst of 100 events/s is 10 renders, not 100), and the run is re-read,
 * throttled, for the details events do not carry. A re-read never undoes an event that arrived
 * after it was sent.
 */
export function useLiveRun(id: string) {
  const [run, setRun] = useState<Run | null>(null);
  const [statuses, setStatuses] = useState<Record<string, string>>({});
  const [runStatus, setRunStatus] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const reload = useRef<() => void>(() => {});

  useEffect(() => {
    let closed = false;
    let seq = 0;
    const touched = new Map<string, number>();
    let runTouched = 0;
    let pending: Record<string, string> = {};
    let pendingRun: string | null = null;
    let frame = 0;
    let refetchTimer: ReturnType<typeof setTimeout> | undefined;
    let lastFetch = 0;
    let source: EventSource | undefined;

    const load = async () => {
      const startedAt = seq;
      lastFetch = Date.now();
      try {
        const r = await api.get<Run>(`/v1/runs/${id}`);
        if (closed) return;
        setError(null);
        setRun(r);
        setStatuses((old) => {
          const next: Record<string, string> = { ...old };
          for (const n of r.nodes) if ((touched.get(n.id) ?? 0) <= startedAt) next[n.id] = n.status;
          return next;
        });
        if (runTouched <= startedAt) setRunStatus(r.status);
        if (!source && !TERMINAL.has(r.status)) listen();
        if (TERMINAL.has(r.status)) source?.close();
      } catch (err) {
        if (!closed) setError(err);
      }
    };
    const refetchSoon = () => {
      if (refetchTimer) return;
      const wait = Math.max(0, lastFetch + REFETCH_MS - Date.now());
      refetchTimer = setTimeout(() => {
        refetchTimer = undefined;
        void load();
      }, wait);
    };
    const flush = () => {
      frame = 0;
      const batch = pending;
      pending = {};
      if (Object.keys(batch).length > 0) setStatuses((old) => ({ ...old, ...batch }));
      if (pendingRun) setRunStatus(pendingRun);
      pendingRun = null;
    };
    const schedule = () => {
      if (frame) return;
      // One render per FLUSH_MS however many events arrive (a timer, not a frame: hidden tabs get no frames).
      frame = setTimeout(flush, FLUSH_MS) as unknown as number;
    };
    const onEvent = (e: MessageEvent<string>) => {
      const type = e.type;
      seq++;
      if (NODE_STATUS[type]) {
        const nodeId = (JSON.parse(e.data) as { nodeId: string | null }).nodeId;
        if (nodeId) {
          pending[nodeId] = NODE_STATUS[type]!;
          touched.set(nodeId, seq);
        }
      } else if (RUN_STATUS[type]) {
        pendingRun = RUN_STATUS[type]!;
        runTouched = seq;
        if (TERMINAL.has(pendingRun)) {
          // The stream ends here; EventSource would reconnect to an ended stream forever.
          source?.close();
          // The final outputs now, not after the throttle.
          clearTimeout(refetchTimer);
          refetchTimer = undefined;
          schedule();
          void load();
          return;
        }
      }
      schedule();
      refetchSoon();
    };
    const listen = () => {
      source = new EventSource(`/v1/runs/${id}/events`);
      for (const t of EVENT_TYPES) source.addEventListener(t, onEvent as EventListener);
      source.onerror = () => {
        // CLOSED means the server refused (session ended: the re-read shows the sign-in page).
        if (source?.readyState === EventSource.CLOSED) void load();
      };
    };
    reload.current = () => void load();
    void load();
    return () => {
      closed = true;
      source?.close();
      clearTimeout(refetchTimer);
      clearTimeout(frame);
    };
  }, [id]);

  return { run, statuses, runStatus: runStatus ?? run?.status ?? null, error, reload: () => reload.current() };
}
