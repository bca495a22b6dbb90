import { findRunsByIdempotencyKeys, insertRuns, type CreatedRun, type RunToInsert } from '../../db/runs.js';
import { AppError } from '../errors.js';
import { GroupCommit } from '../group-commit.js';
import { admitRuns } from './admission.js';
import type { EngineDeps } from './deps.js';
import { AfterCommit, applyQueueEffects } from './effects.js';
import type { CompiledVersion } from './versions.js';

/** A run ready to insert, and what its commit sets in motion. */
export interface PreparedRun extends RunToInsert {
  compiled: CompiledVersion;
  priority: number;
  /** Nodes queued at creation: their jobs are added once the run is committed. */
  ready: readonly string[];
  /** Started at once (no concurrency limit, no exclusive key); otherwise admission starts it. */
  admitted: boolean;
}

export interface StartedRun {
  run: CreatedRun;
  /** False when the idempotency key matched an earlier run, which is returned instead. */
  created: boolean;
}

type Outcome = { started: StartedRun; after: Promise<unknown> } | { error: unknown };

/** Runs per statement at most; a larger input than BIG_INPUT goes alone, so a statement stays a few MiB. */
const MAX_BATCH = 64;
const BIG_INPUT = 64 * 1024;

/**
 * Run creations of one process, group-committed (DESIGN.md, "Throughput by batching"): the runs
 * that arrive while a creation statement is in flight are inserted together by the next one,
 * with their node rows, events and audit entries, and their jobs go in one addBulk per queue.
 * An idle process inserts a run alone at once. A batch that fails is retried run by run, so a
 * bad run fails alone. Resolves once the run is committed, its jobs added, and admission (for a
 * workflow with a concurrency limit) has run.
 */
export async function commitRun(deps: EngineDeps, run: PreparedRun): Promise<StartedRun> {
  const big = typeof run.run.input === 'string' && run.run.input.length > BIG_INPUT;
  const outcome = big ? (await commitBatch(deps, [run]))[0]! : await commitsFor(deps).submit(run);
  if ('error' in outcome) throw outcome.error;
  await outcome.after;
  return outcome.started;
}

const perDeps = new WeakMap<EngineDeps, GroupCommit<PreparedRun, Outcome>>();

function commitsFor(deps: EngineDeps) {
  let commits = perDeps.get(deps);
  if (!commits) {
    commits = new GroupCommit<PreparedRun, Outcome>(
      (runs) => commitBatch(deps, runs),
      async (run) => (await commitBatch(deps, [run]))[0]!,
      MAX_BATCH,
    );
    perDeps.set(deps, commits);
  }
  return commits;
}

const keyOf = (r: PreparedRun) => (r.run.idempotency_key ? `${r.run.workflow_id} ${r.run.idempotency_key}` : undefined);

/**
 * One statement for the batch. Only the insert may throw (GroupCommit then retries run by run):
 * once it has committed, every later failure is reported to the runs it concerns, never thrown,
 * since a retry would insert them again.
 */
async function commitBatch(deps: EngineDeps, runs: PreparedRun[]): Promise<Outcome[]> {
  // One key asked for twice in a batch makes one run: the first asker creates it.
  const firstWithKey = new Map<string, PreparedRun>();
  const unique = runs.filter((r) => {
    const key = keyOf(r);
    if (key === undefined) return true;
    if (firstWithKey.has(key)) return false;
    firstWithKey.set(key, r);
    return true;
  });
  const ordered = unique.length > 1 ? [...unique].sort((a, b) => compareKeys(keyOf(a), keyOf(b))) : unique;
  const inserted = new Map((await insertRuns(deps.db, ordered)).map((row) => [row.id, row]));

  const outcomes = new Map<PreparedRun, Outcome>();
  const skipped = unique.filter((r) => !inserted.has(r.run.id));
  const earlier = await findEarlier(deps, skipped);
  for (const r of skipped) {
    const key = keyOf(r);
    const found = key === undefined || earlier instanceof Error ? undefined : earlier.get(key);
    if (found) outcomes.set(r, { started: { run: found, created: false }, after: Promise.resolve() });
    else if (earlier instanceof Error && key !== undefined) outcomes.set(r, { error: earlier });
    else if (r.requireActive) outcomes.set(r, { error: r.assumed ? new StaleWorkflow(r.run.workflow_id) : archived() });
    else outcomes.set(r, { error: new Error(`run ${r.run.id} was not inserted and no run holds its idempotency key`) });
  }

  const fx = new AfterCommit();
  const admissions = new Map<string, Promise<unknown>>();
  for (const r of unique) {
    const row = inserted.get(r.run.id);
    if (!row) continue;
    fx.enqueue(r.compiled, row.id, r.priority, r.ready);
    const deadline = r.run.deadline_at;
    if (deadline) fx.timers.push({ job: { kind: 'deadline', runId: row.id }, at: new Date(deadline) });
    // A queued run has no jobs yet: admission starts it if a slot is free, once per workflow per batch.
    if (!r.admitted && !admissions.has(row.workflow_id)) admissions.set(row.workflow_id, admitRuns(deps, row.workflow_id));
    deps.log.debug({ runId: row.id, workflowId: row.workflow_id, admitted: r.admitted }, 'run created');
  }
  // Not awaited here: the next batch's insert need not wait for this one's queue round trip.
  const enqueued = applyQueueEffects(deps, fx);
  for (const p of [enqueued, ...admissions.values()]) p.catch(() => {});
  for (const r of unique) {
    const row = inserted.get(r.run.id);
    if (!row) continue;
    const after = r.admitted ? enqueued : Promise.all([enqueued, admissions.get(row.workflow_id)]);
    outcomes.set(r, { started: { run: row, created: true }, after });
  }

  return runs.map((r) => {
    const own = outcomes.get(r);
    if (own) return own;
    // A repeat of a key in this batch: the first asker's run, or its error.
    const first = outcomes.get(firstWithKey.get(keyOf(r)!)!)!;
    return 'error' in first ? first : { started: { run: first.started.run, created: false }, after: first.after };
  });
}

/** The runs already holding the keys of `skipped`, by key (an Error if the lookup failed). */
async function findEarlier(deps: EngineDeps, skipped: PreparedRun[]): Promise<Map<string, CreatedRun> | Error> {
  const keys = skipped.flatMap((r) => (r.run.idempotency_key ? [{ workflowId: r.run.workflow_id, key: r.run.idempotency_key }] : []));
  if (keys.length === 0) return new Map();
  try {
    const rows = await findRunsByIdempotencyKeys(deps.db, keys);
    return new Map(rows.map((row) => [`${row.workflow_id} ${row.idempotency_key}`, row]));
  } catch (err) {
    return err as Error;
  }
}

function compareKeys(a: string | undefined, b: string | undefined): number {
  if (a === b) return 0;
  if (a === undefined) return 1;
  if (b === undefined) return -1;
  return a < b ? -1 : 1;
}

/**
 * The workflow is archived or changed (a new version, its concurrency, its name) since the row the
 * caller assumed was read: look it up again and retry.
 */
export class StaleWorkflow extends Error {
  constructor(readonly workflowId: string) {
    super(`workflow ${workflowId} changed since it was read; look it up again`);
    this.name = 'StaleWorkflow';
  }
}

const archived = () =>
  new AppError(404, 'not_found', 'This workflow was archived while the run was being created: an archived workflow starts no runs.');
