import { parentPort } from 'node:worker_threads';
import { ExpressionError, evaluateGuard, resolveTemplates, type EvalOptions, type ExpressionScope } from './expression-eval.js';

/**
 * The expression sandbox thread: evaluates one request at a time for lib/expressions.ts and
 * reports each expression as it starts, so the parent can name it if it has to kill the thread.
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

port.on('message', async (req: SandboxRequest) => {
  const reply = (r: SandboxReply) => port.postMessage(r);
  const onEvaluate = (where: string) => reply({ id: req.id, kind: 'evaluating', where });
  try {
    const value = req.op === 'resolve'
      ? await resolveTemplates(req.value, req.scope, req.pointer, req.opts, onEvaluate)
      : await evaluateGuard(req.when, req.scope, req.opts, onEvaluate);
    reply({ id: req.id, kind: 'done', value });
  } catch (err) {
    const code = err instanceof ExpressionError ? err.code : 'expression_error';
    reply({ id: req.id, kind: 'error', code, message: err instanceof Error ? err.message : String(err) });
  }
});
