import { describe, expect, it } from 'vitest';
import { NodeStop } from './node-stop.js';

describe('NodeStop', () => {
  it('stops with the first source to abort, and says whether that was the timeout', async () => {
    const job = new AbortController();
    const stop = new NodeStop();
    stop.follow(job.signal);
    stop.timeoutAfter(20, () => new Error('timed out'));
    job.abort(new Error('lock lost'));
    await new Promise((r) => setTimeout(r, 40));
    expect((stop.signal.reason as Error).message).toBe('lock lost');
    expect(stop.timedOut).toBe(false);

    const timed = new NodeStop();
    timed.follow(new AbortController().signal);
    timed.timeoutAfter(5, () => new Error('timed out'));
    await new Promise((r) => setTimeout(r, 30));
    expect(timed.timedOut).toBe(true);
    expect((timed.signal.reason as Error).message).toBe('timed out');
  });

  it('a source already aborted stops it at once', () => {
    const stop = new NodeStop();
    stop.follow(AbortSignal.abort(new Error('closing')));
    expect(stop.signal.aborted).toBe(true);
  });

  it('after dispose, neither the timer nor a source reaches it, and no listener stays on the source', async () => {
    const job = new AbortController();
    const stop = new NodeStop();
    stop.follow(job.signal);
    stop.timeoutAfter(5, () => new Error('timed out'));
    stop.dispose();
    job.abort(new Error('late'));
    await new Promise((r) => setTimeout(r, 20));
    expect(stop.signal.aborted).toBe(false);
    expect(stop.timedOut).toBe(false);
  });
});
