import { UnrecoverableError } from 'bullmq';
import { heartbeatNode, nodeResults, requeueRunningNode, type ClaimedNode, type NodeOutcome } from '../../db/node-runs.js';
import { appendEvents } from '../../db/run-events.js';
import { isUnstorableValue } from '../../db/errors.js';
import { lockRun } from '../../db/runs.js';
import type { JsonValue } from '../../db/types.js';
import { lazyLogger } from '../logger.js';
import { EXPRESSION_BUDGET_MS, evaluateGuard, resolveTemplates, type ExpressionScope } from '../expressions.js';
import type { NodeJob } from '../jobs.js';
import { Suspension, type Json } from '../providers/types.js';
import { ProviderError } from '../providers/errors.js';
import { guardedFetch } from '../http/guarded-fetch.js';
import { asJsonOutput } from './provider-output.js';
import { redactionValues } from '../credentials/secrets.js';
import { DEFAULT_NODE_TIMEOUT_MS, type NodeDefinition } from '../workflows/definition.js';
import { startChildRun } from './child-runs.js';
import type { EngineDeps } from './deps.js';
import { NodeError, classifyError, redactSecrets } from './node-errors.js';
import { cleanText, unstorableEscape } from './storable-text.js';
import { claim as claimBatched } from './claim-commits.js';
import { commitResult } from './result-commits.js';
import { NodeStop } from './node-stop.js';
import { inTransaction, safely } from './tx.js';
import { loadVersion, type CompiledVersion } from './versions.js';
import { suspendNode } from './waits.js';
import { traceNode, tracingOn } from '../tracing/index.js';

/** How long a job waits before it is delivered again after the database failed it (not the node). */
const INFRA_RETRY_MS = 1_000;

/**
 * The database, not the node, failed this delivery: the consumer moves the job back to delayed
 * without spending one of BullMQ's attempts, so PostgreSQL's count alone decides retries.
 */
export class RetryLater extends Error {
  constructor(readonly delayMs: number, message: string) {
    super(message);
    this.name = 'RetryLater';
  }
}

export type NodeExecution = { status: 'succeeded' | 'failed' | 'skipped' | 'waiting' | 'ignored'; attempt?: number; ms?: number };

/**
 * Executes one node job: claim it, resolve its inputs from Postgres, call the provider with
 * an AbortSignal, record the outcome and enqueue what became ready. A delivery that cannot
 * claim the node (duplicate, stale, cancelled run) does nothing.
 * Throws to have BullMQ retry with backoff; throws UnrecoverableError for a final failure.
 */
export async function executeNode(deps: EngineDeps, job: NodeJob, jobSignal: AbortSignal): Promise<NodeExecution> {
  let claim: ClaimedNode | undefined;
  try {
    claim = await claimBatched(deps, job.runId, job.nodeId);
  } catch (err) {
    // Nothing was claimed, so no attempt was spent: the job comes back without spending BullMQ's either.
    throw new RetryLater(INFRA_RETRY_MS, `could not claim the node: ${(err as Error).message}`);
  }
  if (!claim) return { status: 'ignored' };
  if (!tracingOn()) return executeClaimed(deps, job, jobSignal, claim);
  // The node's span joins the run's trace, from the traceparent stored on the run and returned by the claim.
  const claimed = claim;
  const span = { runId: job.runId, nodeId: job.nodeId, type: claim.type, attempt: claim.attempts };
  return traceNode(claim.traceparent, span, () => executeClaimed(deps, job, jobSignal, claimed), (err) => thrownStatus(err, jobSignal));
}

/** A node span's `conveyor.status` when its execution threw. */
function thrownStatus(err: unknown, jobSignal: AbortSignal): string {
  if (err instanceof UnrecoverableError) return 'failed';
  if (err instanceof RetryLater) return 'requeued';
  return jobSignal.aborted ? 'aborted' : 'retrying';
}

async function executeClaimed(deps: EngineDeps, job: NodeJob, jobSignal: AbortSignal, claim: ClaimedNode): Promise<NodeExecution> {
  const started = performance.now();
  const log = lazyLogger(() => deps.log.child({ runId: job.runId, nodeId: job.nodeId, attempt: claim.attempts }));
  let compiled: CompiledVersion;
  try {
    compiled = await loadVersion(deps.db, claim.workflow_id, claim.version);
  } catch (err) {
    // Claimed but not started: put the node back in the queue for a later delivery. PostgreSQL's
    // attempt count (the one that decides retries) already has this attempt; BullMQ's does not.
    log.warn({ err: (err as Error).message }, 'could not load the workflow version; the node goes back to the queue');
    await requeueRunningNode(deps.db, job.runId, job.nodeId, claim.attempts, 'worker could not load the workflow; retrying').catch(() => false);
    throw new RetryLater(INFRA_RETRY_MS, `could not load the workflow version: ${(err as Error).message}`);
  }
  const node = compiled.nodes.get(job.nodeId);
  const stop = new NodeStop();
  let lost = false;
  const cancel = deps.aborts.track(job.runId);
  stop.follow(jobSignal);
  stop.follow(cancel.signal);
  let beating = false;
  const heartbeat = setInterval(() => {
    // One heartbeat in flight per node: a slow database must not pile them onto the pool.
    if (beating) return;
    beating = true;
    heartbeatNode(deps.db, job.runId, job.nodeId, claim.attempts)
      .then((ours) => {
        if (ours) return;
        lost = true;
        stop.abort(new NodeError('superseded', 'node no longer held by this worker'));
      })
      .catch((err: Error) => log.warn({ err: err.message }, 'node heartbeat failed; the next one retries'))
      .finally(() => (beating = false));
  }, deps.settings.nodeLockMs / 3);
  let result: NodeOutcome | Suspension;
  const seen: Seen = {};
  try {
    if (!node) throw new NodeError('unknown_node', `node '${job.nodeId}' is not in version ${claim.version}`);
    result = await runNode(deps, compiled, node, claim, job, stop, log, seen);
  } catch (err) {
    if (cancel.signal.aborted) {
      // The cancelling transaction already recorded the node as cancelled: nothing to add.
      log.info('node aborted: run ended');
      return { status: 'ignored' };
    }
    if (jobSignal.aborted || lost) {
      // Cancelled or taken over: whoever holds the node now records its result.
      log.info({ reason: String(jobSignal.reason ?? stop.signal.reason) }, 'node aborted');
      throw err;
    }
    const { error, retryable } = classifyError(err);
    const maxAttempts = node?.retry?.attempts ?? 1;
    if (retryable && claim.attempts < maxAttempts && node) {
      await scheduleRetry(deps, job, claim.attempts, node, error);
      log.warn({ code: error.code, ms: Math.round(performance.now() - started) }, 'node attempt failed; retrying');
      safely(() => deps.hooks.nodeExecuted?.({ type: claim.type, status: 'retrying', seconds: (performance.now() - started) / 1000 }));
      throw new Error(error.message);
    }
    result = { status: 'failed', error, ...(seen.params === undefined ? {} : { params: seen.params }) };
  } finally {
    clearInterval(heartbeat);
    stop.dispose();
    cancel.release();
  }
  const ms = Math.round(performance.now() - started);
  if (result instanceof Suspension) {
    const suspension = result;
    const parked = await inTransaction(deps, (ctx) => suspendNode(ctx, job.runId, job.nodeId, claim.attempts, suspension));
    log.info({ status: parked.waiting ? 'waiting' : 'settled', reason: suspension.reason, ms, recorded: parked.recorded }, 'node suspended');
    safely(() => deps.hooks.nodeExecuted?.({ type: claim.type, status: 'waiting', seconds: ms / 1000 }));
    return { status: 'waiting', attempt: claim.attempts, ms };
  }
  const { outcome, recorded } = await recordResult(deps, job, claim.attempts, result, log);
  // Per node at debug: at thousands of nodes a second, info lines would be a worker's main cost.
  const line = { status: outcome.status, ms, recorded: recorded.recorded, ...(outcome.error ? { code: outcome.error.code } : {}) };
  if (outcome.status === 'failed') log.warn(line, 'node failed');
  else log.debug(line, 'node finished');
  if (recorded.runFinished) log[recorded.runFinished === 'failed' ? 'info' : 'debug']({ status: recorded.runFinished }, 'run finished');
  if (recorded.recorded) safely(() => deps.hooks.nodeExecuted?.({ type: claim.type, status: outcome.status, seconds: ms / 1000 }));
  if (outcome.status === 'failed') throw new UnrecoverableError(outcome.error?.message ?? 'node failed');
  return { status: outcome.status, attempt: claim.attempts, ms };
}

/**
 * Records the node's result. A result PostgreSQL refuses (a value jsonb cannot hold, a limit)
 * fails the node with `invalid_output`, recorded: left `running`, the sweeper would re-queue it
 * and call its target again, forever, whatever its retry policy.
 */
async function recordResult(deps: EngineDeps, job: NodeJob, attempt: number, result: NodeOutcome, log: EngineDeps['log']) {
  const record = (outcome: NodeOutcome) => commitResult(deps, job.runId, job.nodeId, { status: 'running', attempt }, outcome);
  try {
    return { outcome: result, recorded: await record(result) };
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (!isUnstorableValue(err)) {
      log.warn({ code, error: (err as Error).message }, 'could not record the node result; the job will be retried');
      throw err;
    }
    log.warn({ code, error: (err as Error).message, status: result.status }, 'PostgreSQL refused the node result; recording the node as failed');
    const failed: NodeOutcome = { status: 'failed', error: { code: 'invalid_output', message: `the node's result cannot be stored: ${cleanText((err as Error).message)}` } };
    return { outcome: failed, recorded: await record(failed) };
  }
}

/** What a node's execution got as far as, for its outcome even when it throws. */
interface Seen {
  params?: JsonValue;
}

/** Resolved params bigger than this are kept as their size only: they are for reading, not replay. */
const RECORDED_PARAMS_MAX_BYTES = 64 * 1024;

function recordedParams(params: unknown, secrets: readonly string[]): JsonValue {
  const redacted = redactSecrets(params as JsonValue, secrets) as JsonValue;
  const bytes = Buffer.byteLength(JSON.stringify(redacted) ?? 'null');
  return bytes > RECORDED_PARAMS_MAX_BYTES ? { truncated: true, bytes } : redacted;
}

async function runNode(
  deps: EngineDeps,
  compiled: CompiledVersion,
  node: NodeDefinition,
  claim: ClaimedNode,
  job: NodeJob,
  stop: NodeStop,
  log: EngineDeps['log'],
  seen: Seen,
): Promise<NodeOutcome | Suspension> {
  const provider = deps.registry.get(node.type);
  if (!provider) throw new NodeError('unknown_type', `no provider for node type '${node.type}'`);
  // The node's time runs from here: resolving its inputs is part of it, not free before it.
  const timeoutMs = node.timeoutMs ?? DEFAULT_NODE_TIMEOUT_MS;
  const timedOut = () => new NodeError('timeout', `node '${node.id}' timed out after ${timeoutMs} ms`);
  stop.timeoutAfter(timeoutMs, timedOut);
  const signal = stop.signal;
  const scope = await buildScope(deps, compiled, claim, job);
  const exprOpts = { nodeId: node.id, budgetMs: Math.min(EXPRESSION_BUDGET_MS, timeoutMs), maxBytes: deps.settings.maxExpressionBytes };
  let resolved: unknown;
  try {
    if (node.when !== undefined && !(await evaluateGuard(node.when, scope, exprOpts, signal))) {
      return { status: 'skipped', error: { code: 'condition_false', message: `when guard is false: ${node.when}` } };
    }
    resolved = await resolveTemplates(node.params, scope, '/params', exprOpts, signal);
  } catch (err) {
    if (stop.timedOut) throw timedOut();
    throw err;
  }
  const params = provider.params.safeParse(resolved);
  if (!params.success) {
    const detail = params.error.issues.map((i) => `/params/${i.path.join('/')}: ${i.message}`).join('; ');
    throw new NodeError('invalid_params', `params of node '${node.id}' are invalid after resolution: ${detail}`);
  }
  const credential = node.credential ? await resolveCredential(deps, claim.workspace_id, node.credential, provider.credential) : undefined;
  // Also the forms a provider puts on the wire (Basic's base64 of user:password) that a target may echo.
  const secrets = credential ? redactionValues(credential) : [];
  seen.params = recordedParams(params.data, secrets);
  try {
    // Through a promise: a plugin's `run` may throw synchronously or return a plain value.
    const output = await abortable(
      Promise.resolve().then(() => provider.run({
        params: params.data,
        credential,
        signal,
        log,
        idempotencyKey: `${job.runId}:${job.nodeId}`,
        run: { id: job.runId, workflowId: claim.workflow_id, workspaceId: claim.workspace_id, nodeId: job.nodeId, attempt: claim.attempts },
        settings: deps.settings,
        startChildRun: (req) =>
          startChildRun(deps, { runId: job.runId, nodeId: job.nodeId, workspaceId: claim.workspace_id, depth: claim.depth, priority: claim.priority }, req),
        fetch: guardedFetch({ allowHosts: deps.settings.httpAllowHosts, maxResponseBytes: deps.settings.maxResponseBytes, signal, secrets }),
      })),
      signal,
    );
    if (output instanceof Suspension) return output;
    return { status: 'succeeded', output: checkOutput(redactSecrets(asJsonOutput(output), secrets), deps.settings.maxNodeOutputBytes), params: seen.params };
  } catch (err) {
    if (stop.timedOut) throw timedOut();
    const { error, retryable } = classifyError(err);
    throw new ProviderError(error.code, redactSecrets(error.message, secrets), { retryable });
  }
}

async function buildScope(deps: EngineDeps, compiled: CompiledVersion, claim: ClaimedNode, job: NodeJob): Promise<ExpressionScope> {
  const refs = compiled.references.get(job.nodeId) ?? [];
  const rows = await nodeResults(deps.db, job.runId, refs);
  return {
    input: claim.input as Json,
    nodes: Object.fromEntries(rows.map((r) => [r.node_id, { output: r.output as Json, status: r.status }])),
    run: { id: job.runId, workflowId: claim.workflow_id, attempt: claim.attempts },
  };
}

async function resolveCredential(deps: EngineDeps, workspaceId: string, name: string, accepted: readonly string[] | undefined) {
  const credential = await deps.credentials?.(workspaceId, name);
  if (!credential) throw new NodeError('credential_missing', `credential '${name}' does not exist in this workspace`);
  if (!accepted?.includes(credential.type)) {
    throw new NodeError('credential_type', `credential '${name}' is of type ${credential.type}; this node takes ${accepted?.join(', ') || 'none'}`);
  }
  return credential;
}

/** Stops waiting when the signal fires, even for a provider that ignores it; its late result is dropped. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function checkOutput(output: unknown, maxBytes: number): JsonValue {
  let text: string | undefined;
  try {
    text = JSON.stringify(output ?? null);
  } catch {
    throw new NodeError('invalid_output', 'the provider returned a value that is not JSON');
  }
  const bytes = Buffer.byteLength(text ?? 'null');
  if (bytes > maxBytes) throw new NodeError('output_too_large', `output is ${bytes} bytes; the limit (MAX_NODE_OUTPUT_BYTES) is ${maxBytes}`);
  const unstorable = text === undefined ? undefined : unstorableEscape(text);
  if (unstorable) throw new NodeError('invalid_output', `output contains ${unstorable}, which PostgreSQL cannot store`);
  return JSON.parse(text ?? 'null') as JsonValue;
}

async function scheduleRetry(deps: EngineDeps, job: NodeJob, attempt: number, node: NodeDefinition, error: { code: string; message: string }) {
  const retry = node.retry!;
  const delay = retry.backoff === 'exponential' ? retry.delayMs * 2 ** (attempt - 1) : retry.delayMs;
  const at = new Date(Date.now() + delay).toISOString();
  await inTransaction(deps, async ({ tx }) => {
    const run = await lockRun(tx, job.runId);
    if (run?.status !== 'running') return;
    if (!(await requeueRunningNode(tx, job.runId, job.nodeId, attempt, `retry backoff until ${at}`))) return;
    await appendEvents(tx, job.runId, [{ type: 'node.retrying', nodeId: job.nodeId, attempt, data: { error, nextAttemptAt: at } }]);
  });
}
