import { Worker } from 'node:worker_threads';
import type { ErrorDetail } from './errors.js';
import {
  EXPRESSION_TIMEOUT_MS,
  ExpressionError,
  compile,
  describe,
  escapePointer,
  guardSource,
  timeoutMessage,
  type EvalOptions,
  type ExpressionScope,
} from './expression-eval.js';
import type { SandboxReply, SandboxRequest } from './expression-thread.js';
import { TemplateSyntaxError, hasTemplate, splitTemplate } from './templates.js';

/**
 * Expressions: `{{ JSONata }}` inside string params and `when` guards, evaluated over
 * `{input, nodes: {<id>: {output, status}}, run}`. JSONata has no I/O, no globals and no way to
 * reach Node; `$eval` is replaced so a string cannot become code. Evaluation runs in a worker
 * thread with a memory cap, one expression at a time: JSONata's guardrails stop loops and deep
 * recursion after `timeoutMs`, and a watchdog here terminates the thread when a built-in blocks
 * past it (a catastrophic regex, `$distinct` over 100k items), so no expression can stall or
 * crash the worker process. Parsing (checkExpressions) stays on the calling thread.
 */
export { EXPRESSION_TIMEOUT_MS, ExpressionError, type EvalOptions, type ExpressionScope };

/** Heap of the sandbox thread: enough for scopes of many 1 MiB outputs, small enough to fail fast. */
export const SANDBOX_HEAP_MB = 256;
/** How long past its time bound a blocked expression may run before its thread is terminated. */
const WATCHDOG_GRACE_MS = 100;

/** True when `value` (any JSON) holds a `{{ }}` somewhere. */
export function hasExpressions(value: unknown): boolean {
  if (typeof value === 'string') return hasTemplate(value);
  if (Array.isArray(value)) return value.some(hasExpressions);
  if (value && typeof value === 'object') return Object.values(value).some(hasExpressions);
  return false;
}

export interface ExpressionCheck {
  problems: ErrorDetail[];
  /** Node ids referenced as `nodes.<id>`: the outputs a node's job loads. */
  referencedNodes: Set<string>;
  /** Some reference to `nodes` could not be resolved statically (e.g. `$keys(nodes)`, `**`). */
  dynamic: boolean;
}

/** Parses every expression inside `value` without evaluating; lists problems with pointers. */
export function checkExpressions(value: unknown, pointer: string): ExpressionCheck {
  const result: ExpressionCheck = { problems: [], referencedNodes: new Set(), dynamic: false };
  walkStrings(value, pointer, (text, at) => {
    let parts;
    try {
      parts = splitTemplate(text);
    } catch (err) {
      if (err instanceof TemplateSyntaxError) return void result.problems.push({ pointer: at, message: err.message });
      throw err;
    }
    for (const part of parts) if (part.kind === 'expr') checkSource(part.source, at, result);
  });
  return result;
}

/**
 * Like checkExpressions for a node's `when`, which may also be a bare expression (no `{{ }}`)
 * and must be a single one.
 */
export function checkGuard(when: string, pointer: string): ExpressionCheck {
  const result: ExpressionCheck = { problems: [], referencedNodes: new Set(), dynamic: false };
  let source: string | undefined;
  try {
    source = guardSource(when);
  } catch (err) {
    if (err instanceof TemplateSyntaxError) return { ...result, problems: [{ pointer, message: err.message }] };
    throw err;
  }
  if (source === undefined) result.problems.push({ pointer, message: 'a when guard must be a single {{ expression }} (or a bare expression)' });
  else checkSource(source, pointer, result);
  return result;
}

function checkSource(source: string, pointer: string, into: ExpressionCheck): void {
  try {
    collectReferences(compile(source).ast(), into);
  } catch (err) {
    into.problems.push({ pointer, message: `expression {{ ${source} }} does not parse: ${describe(err)}` });
  }
}

/** Resolves every template inside `value`, returning a copy; strings without `{{` stay as they are. */
export async function resolveTemplates(value: unknown, scope: ExpressionScope, pointer: string, opts: EvalOptions): Promise<unknown> {
  if (!hasExpressions(value)) return value;
  return sandbox().run({ op: 'resolve', value, scope, pointer, opts });
}

/**
 * A node's `when`: a `{{ }}` template or a bare expression, cast to boolean the JSONata way
 * (empty string, 0, null, empty array or object: false). A missing field is simply false.
 */
export async function evaluateGuard(when: string, scope: ExpressionScope, opts: EvalOptions): Promise<boolean> {
  return sandbox().run({ op: 'guard', when, scope, opts }) as Promise<boolean>;
}

type Request = SandboxRequest extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never;

interface Pending {
  id: number;
  request: Request;
  resolve(value: unknown): void;
  reject(err: Error): void;
  /** The expression being evaluated (undefined before the thread reaches one). */
  where?: string;
}

/** One thread per process; requests queue and run one at a time. */
class Sandbox {
  private thread: Worker | undefined;
  /** Shared with the thread: when its current expression started (ms), 0 when it is not evaluating. */
  private clock = new BigInt64Array(new SharedArrayBuffer(8));
  private readonly queue: Pending[] = [];
  private current: Pending | undefined;
  private nextId = 1;
  private watchdog: NodeJS.Timeout | undefined;

  run(request: Request): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, request, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    if (this.current || this.queue.length === 0) return;
    const next = this.queue.shift()!;
    this.current = next;
    try {
      const thread = this.ensureThread();
      thread.postMessage({ ...next.request, id: next.id });
      thread.ref(); // busy: an answer is owed
    } catch (err) {
      this.finish(next, () => next.reject(new ExpressionError('expression_error', `the expression sandbox could not take the request: ${(err as Error).message}`)));
      return;
    }
    this.watchdog ??= setInterval(() => this.check(), 20).unref();
  }

  private finish(p: Pending, settle: () => void): void {
    if (this.current !== p) return;
    this.current = undefined;
    settle();
    if (this.queue.length === 0) {
      // Idle: the thread must not keep a process alive.
      this.thread?.unref();
      if (this.watchdog) clearInterval(this.watchdog);
      this.watchdog = undefined;
    }
    this.pump();
  }

  private check(): void {
    const p = this.current;
    const started = Number(Atomics.load(this.clock, 0));
    if (!p || started === 0) return;
    const limit = p.request.opts.timeoutMs ?? EXPRESSION_TIMEOUT_MS;
    if (Date.now() - started <= limit + WATCHDOG_GRACE_MS) return;
    this.kill();
    this.finish(p, () => p.reject(new ExpressionError('expression_timeout', timeoutMessage(p.where ?? `node '${p.request.opts.nodeId}': an expression`, limit))));
  }

  private kill(): void {
    const t = this.thread;
    this.thread = undefined;
    void t?.terminate();
  }

  private ensureThread(): Worker {
    if (this.thread) return this.thread;
    const fromSource = import.meta.url.endsWith('.ts');
    this.clock = new BigInt64Array(new SharedArrayBuffer(8));
    const thread = new Worker(new URL(fromSource ? './expression-thread.dev.mjs' : './expression-thread.js', import.meta.url), {
      workerData: { clock: this.clock },
      resourceLimits: { maxOldGenerationSizeMb: SANDBOX_HEAP_MB },
    });
    thread.on('message', (reply: SandboxReply) => this.onReply(reply));
    const dead = (why: string) => {
      if (this.thread !== thread) return;
      this.thread = undefined;
      const p = this.current;
      if (p) this.finish(p, () => p.reject(new ExpressionError('expression_error', `${p.where ?? `node '${p.request.opts.nodeId}'`}: ${why}`)));
    };
    thread.on('error', (err: Error & { code?: string }) =>
      dead(err.code === 'ERR_WORKER_OUT_OF_MEMORY' ? `used more than the ${SANDBOX_HEAP_MB} MB an evaluation may` : `the expression sandbox failed: ${err.message}`));
    thread.on('exit', (code) => dead(`the expression sandbox exited (code ${code})`));
    this.thread = thread;
    return thread;
  }

  private onReply(reply: SandboxReply): void {
    const p = this.current;
    if (!p || p.id !== reply.id) return;
    switch (reply.kind) {
      case 'evaluating':
        p.where = reply.where;
        return;
      case 'done':
        return this.finish(p, () => p.resolve(reply.value));
      case 'error':
        return this.finish(p, () => p.reject(new ExpressionError(reply.code, reply.message)));
      default:
        return assertNever(reply);
    }
  }
}

function assertNever(x: never): never {
  throw new Error(`unexpected sandbox reply ${JSON.stringify(x)}`);
}

let shared: Sandbox | undefined;
const sandbox = () => (shared ??= new Sandbox());

function walkStrings(value: unknown, pointer: string, visit: (text: string, pointer: string) => void): void {
  if (typeof value === 'string') {
    if (hasTemplate(value)) visit(value, pointer);
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => walkStrings(v, `${pointer}/${i}`, visit));
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) walkStrings(v, `${pointer}/${escapePointer(k)}`, visit);
  }
}

interface AstNode { type?: string; value?: unknown; steps?: AstNode[]; arguments?: unknown[]; procedure?: AstNode; [k: string]: unknown }

/** Keys of an AST node evaluated against each item rather than the context the node sees. */
const PER_ITEM = new Set(['stages', 'predicate', 'group']);
/** Functions that take no input from the context when called with no arguments. */
const CONTEXT_FREE = new Set(['now', 'millis', 'random']);

/**
 * Finds `nodes.<id>` (also `$$.nodes.<id>`) in a JSONata AST. Anything that could read the
 * scope's root without naming a node (`$keys(nodes)`, `**`, `*`, `%`, a bare `$` or `$$`,
 * `$string()`) marks the check dynamic: the job then loads every upstream output.
 * `atRoot`: the context at this point is the scope itself (not an item of a path or filter).
 */
function collectReferences(ast: unknown, into: ExpressionCheck): void {
  const visit = (node: unknown, atRoot: boolean): void => {
    if (Array.isArray(node)) return node.forEach((n) => visit(n, atRoot));
    if (!node || typeof node !== 'object') return;
    const n = node as AstNode;
    if (n.type === 'parent') into.dynamic = true;
    if (n.type === 'variable' && (n.value === '$' || (n.value === '' && atRoot))) into.dynamic = true;
    if ((n.type === 'wildcard' || n.type === 'descendant') && atRoot) into.dynamic = true;
    if (n.type === 'function' && atRoot && n.arguments?.length === 0 && !CONTEXT_FREE.has(String(n.procedure?.value))) into.dynamic = true;
    if (n.type === 'path' && Array.isArray(n.steps)) return visitPath(n, n.steps, atRoot);
    for (const [key, child] of Object.entries(n)) if (key !== 'position') visit(child, atRoot && !PER_ITEM.has(key));
  };
  const visitPath = (n: AstNode, all: AstNode[], atRoot: boolean): void => {
    const first = all[0];
    const rooted = first?.type === 'variable' && (first.value === '$' || first.value === '');
    const root = rooted ? first.value === '$' || atRoot : atRoot;
    const steps = rooted ? all.slice(1) : all;
    if (root && steps[0]?.type === 'name' && steps[0].value === 'nodes') {
      const id = steps[1];
      if (id?.type === 'name' && typeof id.value === 'string' && !steps[0].stages && !steps[0].group) into.referencedNodes.add(id.value);
      else into.dynamic = true;
    } else if (root && rooted && steps.length === 0) {
      into.dynamic = true;
    }
    // The first step sees the path's context; later steps see the items of the one before.
    steps.forEach((step, i) => visit(step, root && i === 0));
    for (const [key, child] of Object.entries(n)) if (key !== 'position' && key !== 'steps') visit(child, false);
  };
  visit(ast, true);
}

/** Starts the sandbox thread now, so the first node with an expression does not wait for it to boot. */
export async function warmUpExpressions(): Promise<void> {
  await resolveTemplates('{{ 1 }}', { input: null, nodes: {}, run: { id: 'warm-up', workflowId: 'warm-up', attempt: 0 } }, '/', { nodeId: 'warm-up' }).catch(() => undefined);
}
