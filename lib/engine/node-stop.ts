/**
 * Why a node execution stops early, as one AbortController: the job's own signal (BullMQ's
 * lock lost or the worker closing), the run cancelled, the node taken over by another worker,
 * and its timeout. Plain listeners and one timer, not AbortSignal.any/timeout: on Node 20 those
 * build weakly referenced signal graphs whose cost showed at thousands of nodes a second.
 */
export class NodeStop {
  private readonly controller = new AbortController();
  private readonly unlinks: (() => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** The timeout fired before anything else stopped the node. */
  timedOut = false;

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Stops when `source` aborts, with its reason. */
  follow(source: AbortSignal): void {
    if (source.aborted) return this.abort(source.reason);
    const onAbort = () => this.abort(source.reason);
    source.addEventListener('abort', onAbort, { once: true });
    this.unlinks.push(() => source.removeEventListener('abort', onAbort));
  }

  /** Stops after `ms` with `reason()`, unless something else stopped it first. */
  timeoutAfter(ms: number, reason: () => Error): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      if (this.signal.aborted) return;
      this.timedOut = true;
      this.abort(reason());
    }, ms);
    // As AbortSignal.timeout's: a node's timer alone does not keep the process alive.
    this.timer.unref();
  }

  abort(reason: unknown): void {
    this.controller.abort(reason);
  }

  /** Drops the timer and the listeners on the sources (the job's signal outlives the node). */
  dispose(): void {
    clearTimeout(this.timer);
    for (const unlink of this.unlinks) unlink();
    this.unlinks.length = 0;
  }
}
