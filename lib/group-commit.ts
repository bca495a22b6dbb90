/**
 * Group commit: whatever is submitted while a batch is in flight goes out together in the next
 * one. Nothing waits for a timer, so an idle system sends each item alone at once, and a busy
 * one sends fewer, larger batches (graphile-worker's and PostgreSQL's own WAL group commit).
 *
 * A batch that fails is retried item by item with `one`, so one bad item fails alone and its
 * neighbours still succeed; each submitter gets its own item's result or error.
 */
export class GroupCommit<I, R> {
  private waiting: { item: I; resolve(r: R): void; reject(err: unknown): void }[] = [];
  private flushing = false;

  constructor(
    private readonly batch: (items: I[]) => Promise<R[]>,
    private readonly one: (item: I) => Promise<R>,
    private readonly maxBatch = 256,
  ) {}

  submit(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      if (!this.flushing) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.flushing = true;
    try {
      while (this.waiting.length > 0) {
        const taken = this.waiting.splice(0, this.maxBatch);
        let results: R[] | undefined;
        try {
          results = await this.batch(taken.map((t) => t.item));
        } catch (err) {
          if (taken.length === 1) taken[0]!.reject(err);
          else await Promise.all(taken.map((t) => this.one(t.item).then(t.resolve, t.reject)));
          continue;
        }
        taken.forEach((t, i) => t.resolve(results[i]!));
      }
    } finally {
      this.flushing = false;
    }
  }
}
