/**
 * The node executions in flight in this process, by run: a cancellation broadcast aborts
 * exactly the providers working for that run, on whichever worker they are.
 */
export class RunAborts {
  private readonly byRun = new Map<string, Set<AbortController>>();

  track(runId: string): { signal: AbortSignal; release(): void } {
    const controller = new AbortController();
    let set = this.byRun.get(runId);
    if (!set) this.byRun.set(runId, (set = new Set()));
    set.add(controller);
    return {
      signal: controller.signal,
      release: () => {
        set.delete(controller);
        if (set.size === 0 && this.byRun.get(runId) === set) this.byRun.delete(runId);
      },
    };
  }

  abortRun(runId: string, reason: Error): number {
    const set = this.byRun.get(runId);
    if (!set) return 0;
    for (const controller of set) controller.abort(reason);
    return set.size;
  }

  /** The runs with a node executing here now. */
  runIds(): string[] {
    return [...this.byRun.keys()];
  }

  get inFlight(): number {
    let n = 0;
    for (const set of this.byRun.values()) n += set.size;
    return n;
  }
}
