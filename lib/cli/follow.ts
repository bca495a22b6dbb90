import { CliError, EXIT, type ApiClient } from './client.js';
import { clock, duration, errorText } from './format.js';
import type { CliIo } from './main.js';

interface StreamedEvent {
  id: number;
  type: string;
  nodeId: string | null;
  attempt: number | null;
  data: Record<string, any>;
  createdAt: string;
}

const TERMINAL = new Set(['run.succeeded', 'run.failed', 'run.cancelled']);
/** Consecutive broken connections tolerated (a web restart, a proxy timeout) before giving up. */
const MAX_RECONNECTS = 20;

export const exitCodeFor = (status: string) => (status === 'succeeded' ? EXIT.ok : status === 'failed' ? EXIT.failed : EXIT.cancelled);

/** One readable line per state change: `12:00:01.234  fetch        succeeded  (120 ms)`. */
function describe(e: StreamedEvent, started: Map<string, string>): string {
  const at = clock(e.createdAt);
  if (!e.nodeId) return `${at}  run ${e.type.slice(4)}${e.data?.error ? `: ${errorText(e.data.error)}` : ''}`;
  const state = e.type.slice(5);
  const took = (state === 'succeeded' || state === 'failed') && started.has(e.nodeId) ? `  (${duration(started.get(e.nodeId), e.createdAt)})` : '';
  let detail = '';
  if (state === 'started') {
    started.set(e.nodeId, e.createdAt);
    detail = e.attempt && e.attempt > 1 ? `  attempt ${e.attempt}` : '';
  } else if (state === 'failed') detail = `  ${errorText(e.data?.error)}`;
  else if (state === 'retrying') detail = `  ${errorText(e.data?.error)}; next attempt at ${clock(e.data?.nextAttemptAt)}`;
  else if (state === 'skipped') detail = e.data?.code ? `  ${e.data.code}` : '';
  else if (state === 'waiting') detail = `  ${e.data?.reason ?? ''}${e.data?.wakeAt ? ` until ${clock(e.data.wakeAt)}` : ''}`;
  else if (state === 'succeeded' && e.data?.reusedFrom) detail = `  reused from ${e.data.reusedFrom}`;
  return `${at}  ${e.nodeId.padEnd(16)} ${(state === 'started' ? 'running' : state).padEnd(9)}${took}${detail}`.trimEnd();
}

/**
 * Streams the run's events (GET /v1/runs/:id/events), printing each as it happens, and resumes
 * with Last-Event-ID when the connection drops, until the run ends. Returns its final status.
 */
export async function followRun(api: ApiClient, io: CliIo, runId: string, json: boolean): Promise<string> {
  const started = new Map<string, string>();
  let lastId: string | undefined;
  let failures = 0;
  for (;;) {
    const before = lastId;
    try {
      for await (const m of api.events(runId, lastId)) {
        if (!m.event || !m.id) continue;
        lastId = m.id;
        failures = 0;
        const e = JSON.parse(m.data) as StreamedEvent;
        io.out(json ? JSON.stringify(e) : describe(e, started));
        if (TERMINAL.has(e.type)) return e.type.slice(4);
      }
    } catch (err) {
      if (err instanceof CliError && !err.message.startsWith('Cannot reach')) throw err;
      if (failures + 1 > MAX_RECONNECTS) throw err;
    }
    // The stream ended without the terminal event (a restart, a time limit): ask, then resume.
    if (lastId === before) failures++;
    if (failures > MAX_RECONNECTS) throw new CliError(`the event stream of run ${runId} keeps ending without news; see \`conveyor runs show ${runId}\``);
    const run = await api.request('GET', `/v1/runs/${runId}`);
    if (['succeeded', 'failed', 'cancelled'].includes(run.body.status)) return run.body.status as string;
    await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** Math.min(failures, 4))));
  }
}
