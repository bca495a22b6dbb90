import { OpenAPIHono, z } from '@hono/zod-openapi';
import { listNodeRuns, resolvedParams } from '../../../db/node-runs.js';
import { getRun, listRuns } from '../../../db/runs.js';
import { getVersion } from '../../../db/workflows.js';
import type { JsonValue, Workflow } from '../../../db/types.js';
import { cancelRun } from '../../../lib/engine/cancel.js';
import { StaleWorkflow } from '../../../lib/engine/run-commits.js';
import { startRun } from '../../../lib/engine/start-run.js';
import { signalNode } from '../../../lib/engine/waits.js';
import { describeWaits } from '../../../lib/engine/waiting-for.js';
import { loadVersion } from '../../../lib/engine/versions.js';
import { assertNever, badRequest, conflict, notFound, tooLarge } from '../../../lib/errors.js';
import { audit } from '../audit.js';
import type { ApiDeps, ApiEnv } from '../context.js';
import { lookupsFor } from '../lookups.js';
import { decodeCursor, emptyPage, page, pageQuery, workflowFilter } from '../pagination.js';
import { presentRun, presentRunSummary } from '../present.js';
import { defineRoute } from '../route.js';

const RUN_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
const json = (description: string) => ({ description, content: { 'application/json': { schema: z.looseObject({}) } } });

const runBody = z
  .object({
    input: z.unknown().optional().openapi({ description: 'the run input, any JSON' }),
    priority: z.number().int().min(1).max(10).default(5).openapi({ description: '1 (highest) .. 10' }),
    version: z.number().int().min(1).optional().openapi({ description: 'pin a version (default: latest)' }),
  })
  .strict();

const enqueue = defineRoute('editor', {
  method: 'post',
  path: '/v1/workflows/{idOrName}/runs',
  tags: ['runs'],
  summary: 'Enqueue a run',
  request: {
    params: z.object({ idOrName: z.string().min(1).max(64) }),
    headers: z.object({ 'idempotency-key': z.string().min(1).max(255).optional() }),
    body: { required: false, content: { 'application/json': { schema: runBody } } },
  },
  responses: { 202: json('queued'), 200: json('the run an earlier request with this Idempotency-Key created') },
});
const list = defineRoute('viewer', {
  method: 'get',
  path: '/v1/runs',
  tags: ['runs'],
  summary: 'List runs, newest first',
  request: {
    query: z.object({
      ...pageQuery,
      workflow: z.string().min(1).max(64).optional().openapi({ description: 'workflow id or name' }),
      status: z.enum(RUN_STATUSES).optional(),
    }),
  },
  responses: { 200: json('a page') },
});
const get = defineRoute('viewer', {
  method: 'get',
  path: '/v1/runs/{id}',
  tags: ['runs'],
  summary: 'A run with its nodes',
  request: { params: z.object({ id: z.string().uuid() }) },
  responses: { 200: json('the run') },
});

const cancel = defineRoute('editor', {
  method: 'post',
  path: '/v1/runs/{id}/cancel',
  tags: ['runs'],
  summary: 'Cancel a run: open nodes cancelled, running providers aborted',
  request: { params: z.object({ id: z.string().uuid() }) },
  responses: { 202: json('cancelled (or already cancelled)'), 409: json('the run already ended') },
});
const retry = defineRoute('editor', {
  method: 'post',
  path: '/v1/runs/{id}/retry',
  tags: ['runs'],
  summary: 'Rerun a failed or cancelled run, reusing its succeeded outputs',
  request: { params: z.object({ id: z.string().uuid() }) },
  responses: { 202: json('the new run'), 409: json('the run is not failed or cancelled') },
});

const signal = defineRoute('editor', {
  method: 'post',
  path: '/v1/runs/{id}/nodes/{nodeId}/signal',
  tags: ['runs'],
  summary: 'Resume a waiting wait.signal node: the payload becomes its output',
  request: {
    params: z.object({ id: z.string().uuid(), nodeId: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/) }),
    body: { required: false, content: { 'application/json': { schema: z.object({ payload: z.unknown().optional() }).strict() } } },
  },
  responses: { 202: json('signalled'), 409: json('the node is not waiting for a signal') },
});

export function runRoutes({ db, engine, config }: ApiDeps) {
  const app = new OpenAPIHono<ApiEnv>();
  const lookups = lookupsFor(db);

  app.openapi(enqueue, async (c) => {
    const { workspaceId } = c.get('principal');
    const declared = Number(c.req.header('content-length') ?? 0);
    if (declared > config.MAX_RUN_INPUT_BYTES + 1024) throw tooLarge(`Run input is limited to ${config.MAX_RUN_INPUT_BYTES} bytes (MAX_RUN_INPUT_BYTES).`);
    const body = c.req.valid('json') ?? { priority: 5 };
    const input = (body.input ?? null) as JsonValue;
    if (Buffer.byteLength(JSON.stringify(input)) > config.MAX_RUN_INPUT_BYTES) {
      throw tooLarge(`Run input is limited to ${config.MAX_RUN_INPUT_BYTES} bytes (MAX_RUN_INPUT_BYTES).`);
    }
    const ref = c.req.valid('param').idOrName;
    // The workflow as last read by this process: the insert checks it still holds (version,
    // concurrency, name, not archived) and creates nothing otherwise; then it is read again.
    const create = async (wf: Workflow | undefined, recent: boolean) => {
      if (!wf || wf.archived_at) throw notFound(`workflow '${ref}'`);
      const version = body.version ?? wf.latest_version;
      if (body.version && !(await getVersion(db, wf.id, body.version))) {
        throw badRequest(`workflow '${wf.name}' has no version ${body.version}`, [{ pointer: '/version', message: 'no such version' }]);
      }
      return startRun(engine, {
        workspaceId,
        workflowId: wf.id,
        version,
        input,
        trigger: { type: 'api', keyId: c.get('principal').keyId },
        priority: body.priority,
        idempotencyKey: c.req.valid('header')['idempotency-key'],
        concurrency: wf.concurrency,
        requireActive: true,
        assumed: recent ? { concurrency: wf.concurrency, latestVersion: body.version ? undefined : wf.latest_version, name: wf.id === ref ? undefined : ref } : undefined,
        audit: { apiKeyId: c.get('principal').keyId, requestId: c.get('requestId'), action: 'run.create', details: { workflowId: wf.id } },
      });
    };
    const { run, created } = await create(await lookups.recentWorkflow(workspaceId, ref), true).catch(async (err: unknown) => {
      if (!(err instanceof StaleWorkflow)) throw err;
      lookups.forgetWorkflow(workspaceId, ref);
      return create(await lookups.workflow(workspaceId, ref), false);
    });
    const answer = { id: run.id, status: run.status === 'running' ? 'queued' : run.status, workflowId: run.workflow_id, version: run.version, createdAt: run.created_at.toISOString() };
    return c.json(answer, created ? 202 : 200);
  });

  app.openapi(list, async (c) => {
    const q = c.req.valid('query');
    const { workspaceId } = c.get('principal');
    const workflowId = await workflowFilter(db, workspaceId, q.workflow);
    if (workflowId === null) return c.json(emptyPage, 200);
    const rows = await listRuns(db, workspaceId, { workflowId, status: q.status, limit: q.limit, after: decodeCursor(q.cursor) });
    return c.json(page(rows, q.limit, presentRunSummary), 200);
  });

  app.openapi(get, async (c) => {
    const run = await getRun(db, c.get('principal').workspaceId, c.req.valid('param').id);
    if (!run) throw notFound('run');
    const [nodes, compiled, params] = await Promise.all([listNodeRuns(db, run.id), loadVersion(db, run.workflow_id, run.version), resolvedParams(db, run.id)]);
    const waits = await describeWaits(engine, run, nodes, compiled);
    return c.json(presentRun(run, nodes, compiled.dag.nodeIds, waits, params), 200);
  });

  app.openapi(cancel, async (c) => {
    const run = await getRun(db, c.get('principal').workspaceId, c.req.valid('param').id);
    if (!run) throw notFound('run');
    const result = await cancelRun(engine, run.id, { code: 'cancelled', message: 'cancelled through the API' });
    if (!result.cancelled && result.status !== 'cancelled') throw conflict(`run ${run.id} already ${result.status}: only a queued or running run can be cancelled`, 'run_finished');
    if (result.cancelled) await audit(c, db, 'run.cancel', 'run', run.id, {});
    return c.json({ id: run.id, status: 'cancelled' }, 202);
  });

  app.openapi(retry, async (c) => {
    const { workspaceId, keyId } = c.get('principal');
    const original = await getRun(db, workspaceId, c.req.valid('param').id);
    if (!original) throw notFound('run');
    if (original.status !== 'failed' && original.status !== 'cancelled') {
      throw conflict(`run ${original.id} is ${original.status}: only a failed or cancelled run can be retried`, 'run_not_retryable');
    }
    const { run } = await startRun(engine, {
      workspaceId,
      workflowId: original.workflow_id,
      version: original.version,
      input: original.input as JsonValue,
      trigger: { type: 'retry', retryOf: original.id, keyId },
      priority: original.priority,
      retryOf: original.id,
    });
    await audit(c, db, 'run.retry', 'run', run.id, { retryOf: original.id });
    return c.json({ id: run.id, status: 'queued', retryOf: original.id, workflowId: run.workflow_id, version: run.version }, 202);
  });

  app.openapi(signal, async (c) => {
    const { id, nodeId } = c.req.valid('param');
    const run = await getRun(db, c.get('principal').workspaceId, id);
    if (!run) throw notFound('run');
    const payload = ((c.req.valid('json') ?? {}).payload ?? null) as JsonValue;
    const bytes = Buffer.byteLength(JSON.stringify(payload));
    if (bytes > config.MAX_NODE_OUTPUT_BYTES) throw tooLarge(`A signal payload becomes a node output: at most ${config.MAX_NODE_OUTPUT_BYTES} bytes (MAX_NODE_OUTPUT_BYTES).`);
    const result = await signalNode(engine, run.id, nodeId, payload);
    switch (result) {
      case 'not_found':
        throw notFound(`node '${nodeId}' of run ${run.id}`);
      case 'run_not_running':
        throw conflict(`run ${run.id} is ${run.status}: only a running run's nodes can be signalled`, 'run_not_running');
      case 'not_waiting':
        throw conflict(`node '${nodeId}' is not a wait.signal node waiting for a signal (already signalled, timed out, or not reached yet)`, 'node_not_waiting');
      case 'signalled':
        await audit(c, db, 'run.signal', 'run', run.id, { nodeId });
        return c.json({ id: run.id, nodeId, status: 'signalled' }, 202);
      default:
        return assertNever(result);
    }
  });

  return app;
}
