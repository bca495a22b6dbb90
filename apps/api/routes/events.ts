import { OpenAPIHono, z } from '@hono/zod-openapi';
import { streamSSE } from 'hono/streaming';
import { getRun } from '../../../db/runs.js';
import { TERMINAL_RUN_STATUSES, type RunEvent } from '../../../db/types.js';
import { badRequest, notFound, unavailable } from '../../../lib/errors.js';
import type { RunEventsHub } from '../../../lib/run-events-hub.js';
import type { ApiDeps, ApiEnv } from '../context.js';
import { defineRoute } from '../route.js';

const TERMINAL_EVENTS = new Set(['run.succeeded', 'run.failed', 'run.cancelled']);
/** A stream this old closes without a terminal event: the client resumes with Last-Event-ID (EventSource does). */
const MAX_STREAM_MS = 30 * 60_000;
const eventId = z.string().regex(/^\d{1,15}$/, 'an event id: digits');

const events = defineRoute('viewer', {
  method: 'get',
  path: '/v1/runs/{id}/events',
  tags: ['runs'],
  summary: "Server-Sent Events of a run's state changes, from the first (or after Last-Event-ID) to the terminal one",
  description:
    'Each message has `id:` (the event id), `event:` (its type: run.queued, node.started, ...) and `data:` (JSON). ' +
    'The stream closes after run.succeeded, run.failed or run.cancelled. Resume with the `Last-Event-ID` header ' +
    '(or `?lastEventId=`): nothing is repeated or lost. A comment line keeps idle connections open.',
  request: {
    params: z.object({ id: z.string().uuid() }),
    query: z.object({ lastEventId: eventId.optional().openapi({ description: 'resume after this event id (as Last-Event-ID)' }) }),
    headers: z.object({ 'last-event-id': eventId.optional() }),
  },
  responses: { 200: { description: 'the event stream', content: { 'text/event-stream': { schema: z.string() } } } },
});

export const presentEvent = (e: RunEvent) => ({
  id: e.id,
  runId: e.run_id,
  type: e.type,
  nodeId: e.node_id,
  attempt: e.attempt,
  data: e.data,
  createdAt: e.created_at.toISOString(),
});

export function eventRoutes({ db, config, runEvents }: ApiDeps & { runEvents: RunEventsHub }) {
  const app = new OpenAPIHono<ApiEnv>();
  app.openapi(events, async (c) => {
    const run = await getRun(db, c.get('principal').workspaceId, c.req.valid('param').id);
    if (!run) throw notFound('run');
    const after = Number(c.req.valid('header')['last-event-id'] ?? c.req.valid('query').lastEventId ?? 0);
    if (!Number.isSafeInteger(after)) throw badRequest('Last-Event-ID must be an event id');
    // Read before subscribing: if the run had ended by then, its every event is already committed.
    const endedBefore = TERMINAL_RUN_STATUSES.includes(run.status);
    const stream = await runEvents.subscribe(run.id, after).catch((err: Error) => {
      throw unavailable(`Cannot stream events right now (${err.message}); retry shortly.`);
    });
    const log = c.get('log');
    return streamSSE(c, async (sse) => {
      sse.onAbort(() => stream.close());
      const deadline = Date.now() + MAX_STREAM_MS;
      try {
        for (let first = true; Date.now() < deadline; first = false) {
          const batch = await stream.next(first ? 0 : Math.min(config.SSE_KEEPALIVE_MS, deadline - Date.now()));
          if (batch === null) break;
          if (batch.length === 0) {
            if (first && endedBefore) break;
            if (!first) await sse.write(': keep-alive\n\n');
            continue;
          }
          for (const e of batch) await sse.writeSSE({ id: String(e.id), event: e.type, data: JSON.stringify(presentEvent(e)) });
          if (batch.some((e) => TERMINAL_EVENTS.has(e.type))) break;
          if (first && endedBefore) break;
        }
      } catch (err) {
        // The client went away mid-write: nothing to answer.
        log.debug({ err: (err as Error).message }, 'event stream ended early');
      } finally {
        stream.close();
      }
    }) as never;
  });
  return app;
}
