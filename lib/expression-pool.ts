import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { EXPRESSION_TIMEOUT_MS, ExpressionError, timeoutMessage } from './expression-eval.js';
import { MARK, marksOf, type Marks } from './expression-marks.js';
import type { SandboxReply, SandboxRequest } from './expression-thread.js';

/** Heap of each sandbox thread: enough for scopes of many 1 MiB outputs, small enough to fail fast. */
export const SANDBOX_HEAP_MB = 256;
/** Sandbox threads per process: one per core, at least two so one blocked thread never stalls the rest. */
export const SANDBOX_THREADS = Math.max(2, Math.min(4, availableParallelism()));
/** How long past its time bound a blocked expression may run before its thread is terminated. */
const WATCHDOG_GRACE_MS = 100;
/** A request whose thread was killed for another request's expression is tried again this often. */
const MAX_REDISPATCH = 2;

export type Request = SandboxRequest extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never;

interface Pending {
  id: number;
  request: Request;
  resolve(value: unknown): void;
  reject(err: Error): void;
  dispatches: number;
  signal?: AbortSignal;
  onAbort?: () => void;
}

interface Slot {
  thread: Worker;
  marks: Marks;
  inFlight: Map<number, Pending>;
}

/**
 * The expression sandbox: up to SANDBOX_THREADS worker threads, started as load needs them.
 * A request goes to an idle thread, else the least busy one, where it interleaves with the
 * others expression by expression. A watchdog terminates a thread whose current expression
 * blocks past its bound (a catastrophic regex, a huge $sort): that request fails with
 * `expression_timeout`; the others it held did nothing wrong and are sent to another thread.
 */
export class SandboxPool {
  private readonly slots: (Slot | undefined)[];
  private nextId = 1;
  private watchdog: NodeJS.Timeout | undefined;

  constructor(private readonly size = SANDBOX_THREADS) {
    this.slots = new Array(size).fill(undefined);
  }

  run(request: Request, signal?: AbortSignal): Promise<unknown> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const p: Pending = { id: this.nextId++, request, resolve, reject, dispatches: 0, signal };
      if (signal) {
        p.onAbort = () => this.abandon(p, signal.reason);
        signal.addEventListener('abort', p.onAbort, { once: true });
      }
      this.dispatch(p);
    });
  }

  private dispatch(p: Pending): void {
    p.dispatches++;
    let slot: Slot;
    try {
      slot = this.pick();
      slot.inFlight.set(p.id, p);
      Atomics.add(slot.marks.counters, 0, 1);
      slot.thread.postMessage({ ...p.request, id: p.id });
      slot.thread.ref(); // busy: an answer is owed
    } catch (err) {
      return this.settle(p, () => p.reject(new ExpressionError('expression_error', `the expression sandbox could not take the request: ${(err as Error).message}`)));
    }
    this.watchdog ??= setInterval(() => this.check(), 20).unref();
  }

  private pick(): Slot {
    let best: Slot | undefined;
    for (const slot of this.slots) {
      if (slot && (!best || slot.inFlight.size < best.inFlight.size)) best = slot;
    }
    if (best && best.inFlight.size === 0) return best;
    const free = this.slots.findIndex((s) => s === undefined);
    if (free >= 0) return (this.slots[free] = this.start(free));
    return best!;
  }

  /** Removes `p` wherever it is and settles it once. */
  private settle(p: Pending, how: () => void): void {
    for (const slot of this.slots) {
      if (!slot?.inFlight.delete(p.id)) continue;
      if (slot.inFlight.size === 0) slot.thread.unref(); // idle: it must not keep a process alive
    }
    if (p.onAbort) p.signal?.removeEventListener('abort', p.onAbort);
    how();
    if (this.slots.every((s) => !s || s.inFlight.size === 0) && this.watchdog) {
      clearInterval(this.watchdog);
      this.watchdog = undefined;
    }
  }

  private abandon(p: Pending, reason: unknown): void {
    const slot = this.slots.find((s) => s?.inFlight.has(p.id));
    if (!slot) return;
    slot.thread.postMessage({ op: 'cancel', id: p.id });
    this.settle(p, () => p.reject(reason instanceof Error ? reason : new Error(String(reason))));
  }

  private check(): void {
    const now = Date.now();
    for (const [index, slot] of this.slots.entries()) {
      if (!slot) continue;
      const started = Number(Atomics.load(slot.marks.clock, 0));
      if (started === 0) continue;
      const culprit = slot.inFlight.get(Number(Atomics.load(slot.marks.clock, 1)));
      const limit = culprit?.request.opts.timeoutMs ?? EXPRESSION_TIMEOUT_MS;
      if (now - started <= limit + WATCHDOG_GRACE_MS) continue;
      const where = new TextDecoder().decode(slot.marks.where.slice(0, slot.marks.counters[1]));
      this.replace(index, culprit, new ExpressionError('expression_timeout', timeoutMessage(where || 'an expression', limit)));
    }
  }

  /** Ends slot `index`'s thread: `culprit` fails with `error`, the requests it held run elsewhere. */
  private replace(index: number, culprit: Pending | undefined, error: ExpressionError): void {
    const slot = this.slots[index];
    if (!slot) return;
    this.slots[index] = undefined;
    void slot.thread.terminate();
    const bystanders = [...slot.inFlight.values()].filter((p) => p !== culprit);
    slot.inFlight.clear();
    if (culprit) this.settle(culprit, () => culprit.reject(error));
    for (const p of bystanders) {
      if (p.dispatches > MAX_REDISPATCH) this.settle(p, () => p.reject(new ExpressionError('expression_error', `node '${p.request.opts.nodeId}': the expression sandbox failed ${p.dispatches} times under it`)));
      else this.dispatch(p);
    }
  }

  private start(index: number): Slot {
    const fromSource = import.meta.url.endsWith('.ts');
    const shared = new SharedArrayBuffer(MARK.bytes);
    const thread = new Worker(new URL(fromSource ? './expression-thread.dev.mjs' : './expression-thread.js', import.meta.url), {
      workerData: { shared },
      resourceLimits: { maxOldGenerationSizeMb: SANDBOX_HEAP_MB },
    });
    const slot: Slot = { thread, marks: marksOf(shared), inFlight: new Map() };
    thread.on('message', (reply: SandboxReply) => this.onReply(slot, reply));
    const dead = (why: string) => {
      if (this.slots[index] !== slot) return;
      // The request evaluating when it died is the one that killed it (out of memory).
      const culprit = slot.inFlight.get(Number(Atomics.load(slot.marks.clock, 1)));
      const name = culprit ? `node '${culprit.request.opts.nodeId}'` : 'an expression';
      this.replace(index, culprit, new ExpressionError('expression_error', `${name}: ${why}`));
    };
    thread.on('error', (err: Error & { code?: string }) =>
      dead(err.code === 'ERR_WORKER_OUT_OF_MEMORY' ? `used more than the ${SANDBOX_HEAP_MB} MB an evaluation may` : `the expression sandbox failed: ${err.message}`));
    thread.on('exit', (code) => dead(`the expression sandbox exited (code ${code})`));
    thread.unref();
    return slot;
  }

  private onReply(slot: Slot, reply: SandboxReply): void {
    const p = slot.inFlight.get(reply.id);
    if (!p) return;
    switch (reply.kind) {
      case 'done':
        return this.settle(p, () => p.resolve(reply.value));
      case 'error':
        return this.settle(p, () => p.reject(new ExpressionError(reply.code, reply.message)));
      default:
        return assertNever(reply);
    }
  }
}

function assertNever(x: never): never {
  throw new Error(`unexpected sandbox reply ${JSON.stringify(x)}`);
}
