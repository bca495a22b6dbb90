/**
 * Group commit: whatever is submitted while batches are in flight goes out together in the next
 * one. Nothing waits for a timer, so an idle system sends each item alone at once, and a busy
 * one sends fewer, larger batches (graphile-worker's and PostgreSQL's own WAL group commit).
 * Up to `maxInFlight` batches travel at once, so a batch's round trip does not idle the database
 * while the next one gathers; callers that need an order between items order them inside a batch.
 *
 * `options` may be just the largest batch, a number.
 *
 * A batch that fails is retried item by item with `one`, so one bad item fails alone and its
 * neighbours still succeed; each submitter gets its own item's result or error.
 */
export interface GroupCommitOptions {
  /** Largest batch (default 256). */
  maxBatch?: number;
  /** Batches in flight at once (default 1). */
  maxInFlight?: number;
  /** Told the size of each batch as it goes out. */
  onBatch?: (size: number) => void;
}

export class GroupCommit<I, R> {
  private waiting: { item: I; resolve(r: R): void; reject(err: unknown): void }[] = [];
  private inFlight = 0;
  private readonly maxBatch: number;
  private readonly maxInFlight: number;
  private readonly opts: GroupCommitOptions;

  constructor(
    private readonly batch: (items: I[]) => Promise<R[]>,
    private readonly one: (item: I) => Promise<R>,
    options: GroupCommitOptions | number = {},
  ) {
    const opts = typeof options === 'number' ? { maxBatch: options } : options;
    this.opts = opts;
    this.maxBatch = opts.maxBatch ?? 256;
    this.maxInFlight = opts.maxInFlight ?? 1;
  }

  submit(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.waiting.length > 0 && this.inFlight < this.maxInFlight) {
      const taken = this.waiting.splice(0, this.maxBatch);
      this.inFlight++;
      void this.send(taken).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  private async send(taken: typeof this.waiting): Promise<void> {
    this.opts.onBatch?.(taken.length);
    let results: R[];
    try {
      results = await this.batch(taken.map((t) => t.item));
    } catch (err) {
      if (taken.length === 1) return taken[0]!.reject(err);
      await Promise.all(taken.map((t) => this.one(t.item).then(t.resolve, t.reject)));
      return;
    }
    taken.forEach((t, i) => t.resolve(results[i]!));
  }
}
