/**
 * The memory an expression sandbox thread shares with its parent: the mark of the expression it
 * is running, readable by the parent's watchdog even while the thread is blocked in it, and how
 * many requests the parent has posted, so a busy thread knows to yield to one it has not read yet.
 */
export const MARK = {
  /** BigInt64 slots: [0] when the running expression started (ms; 0 between expressions), [1] its request id. */
  clockSlots: 2,
  /** Then Int32 slots: [0] requests posted to the thread, [1] the length of the text that follows. */
  countersOffset: 16,
  /** The UTF-8 text of where the running expression is. */
  whereOffset: 24,
  whereBytes: 1024,
  bytes: 24 + 1024,
} as const;

export interface Marks {
  clock: BigInt64Array;
  counters: Int32Array;
  where: Uint8Array;
}

export function marksOf(shared: SharedArrayBuffer): Marks {
  return {
    clock: new BigInt64Array(shared, 0, MARK.clockSlots),
    counters: new Int32Array(shared, MARK.countersOffset, 2),
    where: new Uint8Array(shared, MARK.whereOffset, MARK.whereBytes),
  };
}
