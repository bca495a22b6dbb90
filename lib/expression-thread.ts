import { setImmediate as yieldToOthers } from 'node:timers/promises';
import { parentPort, workerData } from 'node:worker_threads';
import { ExpressionError, evaluateGuard, resolveTemplates, type EvalHooks, type EvalOptions, type ExpressionScope } from './expression-eval.js';
import { marksOf, type Marks } from './expression-marks.js';

/**
 * An expression sandbox thread of lib/expression-pool.ts. It takes several requests at once and
 * interleaves them one expression at a time (yielding between expressions), so a node with a
 * thousand expressions cannot make a one-expression node of another run wait for all of them.
 * Each expression is marked in shared memory as it runs — when it started, whose it is, and its
 * text — so the parent's watchdog can name and blame it, even while this thread is blocked in it.
 */
export type SandboxRequest =
  | { id: number; op: 'resolve'; value: unknown; scope: ExpressionScope; pointer: string; opts: EvalOptions }
  | { id: number; op: 'guard'; when: string; scope: ExpressionScope; opts: EvalOptions };

/** The parent no longer wants request `id` (its node timed out or was cancelled). */
export type SandboxCancel = { id: number; op: 'cancel' };

export type SandboxReply =
  | { id: number; kind: 'done'; value: unknown }
  | { id: number; kind: 'error'; code: ExpressionError['code']; message: string };

const port = parentPort;
if (!port) throw new Error('lib/expression-thread.ts runs as a worker thread of lib/expression-pool.ts');
serve(port, marksOf((workerData as { shared: SharedArrayBuffer }).shared));

function serve(port: NonNullable<typeof parentPort>, marks: Marks): void {
  const encoder = new TextEncoder();
  const cancelled = new Set<number>();
  let active = 0;
  let received = 0;

  port.on('message', async (req: SandboxRequest | SandboxCancel) => {
    if (req.op === 'cancel') return void cancelled.add(req.id);
    received++;
    active++;
    const hooks: EvalHooks = {
      before(where) {
        if (cancelled.has(req.id)) throw new ExpressionError('expression_error', 'cancelled');
        marks.counters[1] = encoder.encodeInto(where, marks.where).written;
        Atomics.store(marks.clock, 1, BigInt(req.id));
        Atomics.store(marks.clock, 0, BigInt(Date.now()));
      },
      async after() {
        Atomics.store(marks.clock, 0, 0n);
        // Yield only when another request is here or on its way: alone, a node pays nothing for it.
        if (active > 1 || Atomics.load(marks.counters, 0) > received) await yieldToOthers();
      },
    };
    let answer: SandboxReply;
    try {
      const value = req.op === 'resolve'
        ? await resolveTemplates(req.value, req.scope, req.pointer, req.opts, hooks)
        : await evaluateGuard(req.when, req.scope, req.opts, hooks);
      answer = { id: req.id, kind: 'done', value };
    } catch (err) {
      const code = err instanceof ExpressionError ? err.code : 'expression_error';
      answer = { id: req.id, kind: 'error', code, message: err instanceof Error ? err.message : String(err) };
    }
    active--;
    cancelled.delete(req.id);
    if (active === 0) Atomics.store(marks.clock, 0, 0n);
    port.postMessage(answer);
  });
}
