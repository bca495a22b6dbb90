import { parentPort, workerData } from 'node:worker_threads';
import { ExpressionError, evaluateGuard, resolveTemplates, type EvalOptions, type ExpressionScope } from './expression-eval.js';

/**
 * The expression sandbox thread: evaluates one request at a time for lib/expressions.ts and
 * reports each expression as it starts, so the parent can name it if it has to kill the thread.
 * `workerData.clock` (shared memory) holds when the current expression started, 0 between
 * requests: the parent's watchdog reads it, so a reply still in flight is never mistaken for a hang.
 */
export type SandboxRequest =
  | { id: number; op: 'resolve'; value: unknown; scope: ExpressionScope; pointer: string; opts: EvalOptions }
  | { id: number; op: 'guard'; when: string; scope: ExpressionScope; opts: EvalOptions };

export type SandboxReply =
  | { id: number; kind: 'evaluating'; where: string }
  | { id: number; kind: 'done'; value: unknown }
  | { id: number; kind: 'error'; code: ExpressionError['code']; message: string };

const port = parentPort;
if (!port) throw new Error('lib/expression-thread.ts runs as a worker thread of lib/expressions.ts');
const clock = (workerData as { clock: BigInt64Array }).clock;

port.on('message', async (req: SandboxRequest) => {
  const reply = (r: SandboxReply) => port.postMessage(r);
  const onEvaluate = (where: string) => {
    reply({ id: req.id, kind: 'evaluating', where });
    Atomics.store(clock, 0, BigInt(Date.now()));
  };
  let answer: SandboxReply;
  try {
    const value = req.op === 'resolve'
      ? await resolveTemplates(req.value, req.scope, req.pointer, req.opts, onEvaluate)
      : await evaluateGuard(req.when, req.scope, req.opts, onEvaluate);
    answer = { id: req.id, kind: 'done', value };
  } catch (err) {
    const code = err instanceof ExpressionError ? err.code : 'expression_error';
    answer = { id: req.id, kind: 'error', code, message: err instanceof Error ? err.message : String(err) };
  }
  Atomics.store(clock, 0, 0n);
  reply(answer);
});
