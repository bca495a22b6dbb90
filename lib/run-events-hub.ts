import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Database } from '../db/database.js';
import { listen, type Listener } from '../db/listen.js';
import { refreshWatches, unwatchAll, unwatchRun, watchRun } from '../db/run-event-watches.js';
import { listEvents } from '../db/run-events.js';
import type { RunEvent } from '../db/types.js';
import type { Logger } from './logger.js';
import { withTimeout } from './queue.js';

/** The channel the run_events trigger NOTIFYs (with the run id) for watched runs: migration 0005. */
export const RUN_EVENTS_CHANNEL = 'conveyor_run_events';

/** A subscriber's view of one run's events, in id order, each delivered once. */
export interface RunEventStream {
  /** The events after those already returned; [] when none came within `timeoutMs`; null once closed. */
  next(timeoutMs: number): Promise<RunEvent[] | null>;
  close(): void;
}

export interface RunEventsHub {
  /** Resolves once the events after `afterId` committed so far are queued for the stream. */
  subscribe(runId: string, afterId: number): Promise<RunEventStream>;
  /** Ends every stream and the LISTEN connection (server shutdown). */
  close(): Promise<void>;
  /** For tests and /metrics: how much this process is doing. */
  stats(): { listening: boolean; runs: number; subscribers: number; reads: number };
}

export interface RunEventsHubOptions {
  db: Database;
  databaseUrl: string;
  log: Logger;
  /** A watch not refreshed this long is ignored by the trigger (its web process died). Default 120 s. */
  watchTtlMs?: number;
}

interface Subscriber {
  last: number;
  queue: RunEvent[];
  wake?: () => void;
  closed: boolean;
}

interface Feed {
  subs: Set<Subscriber>;
  watched: Promise<void>;
  reading?: Promise<void>;
  dirty: boolean;
}

const PAGE = 500;

/**
 * One LISTEN connection per process, however many clients: a notification for a run triggers
 * one read of its new rows (`id > the lowest position of its subscribers`), coalesced while a
 * read is in flight, fanned out to every subscriber of the run. Ids follow commit order per
 * run (events are appended under the run's row lock), so `id > last` loses nothing.
 */
export function createRunEventsHub({ db, databaseUrl, log, watchTtlMs = 120_000 }: RunEventsHubOptions): RunEventsHub {
  const listenerId = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  const feeds = new Map<string, Feed>();
  // A watch removed as the last client left must not land after a new client's watch of the run.
  const unwatching = new Map<string, Promise<void>>();
  let listener: Listener | undefined;
  let closed = false;
  let reads = 0;
  const refresher = setInterval(() => {
    if (feeds.size > 0) void refreshWatches(db, listenerId, [...feeds.keys()], watchTtlMs).catch((err) => log.warn({ err: (err as Error).message }, 'could not refresh run event watches'));
  }, Math.max(1000, watchTtlMs / 4));
  refresher.unref();

  /** Listening starts with the first subscriber; a drop reconnects by itself (db/listen.ts). */
  const connect = (): Promise<void> => {
    listener ??= listen({
      connectionString: databaseUrl,
      applicationName: 'conveyor-run-events',
      channels: [RUN_EVENTS_CHANNEL],
      log,
      onNotification(_channel, runId) {
        const feed = runId ? feeds.get(runId) : undefined;
        if (feed) void read(runId!, feed);
      },
      // Notifications sent while we were not listening are gone: re-watch and re-read every run.
      async onListening({ reconnected }) {
        if (!reconnected || feeds.size === 0) return;
        // Watches lapse after watchTtlMs: renewed before the reads, so nothing falls between them.
        await refreshWatches(db, listenerId, [...feeds.keys()], watchTtlMs).catch((err: Error) => log.warn({ err: err.message }, 'could not refresh run event watches'));
        for (const [runId, feed] of feeds) void read(runId, feed);
      },
    });
    return withTimeout(listener.ready, 5000, 'PostgreSQL (run events listener)');
  };

  const deliver = (feed: Feed, rows: RunEvent[]) => {
    for (const sub of feed.subs) {
      const fresh = rows.filter((r) => r.id > sub.last);
      if (fresh.length === 0) continue;
      sub.queue.push(...fresh);
      sub.last = fresh[fresh.length - 1]!.id;
      sub.wake?.();
    }
  };

  const read = (runId: string, feed: Feed): Promise<void> => {
    if (feed.reading) {
      feed.dirty = true;
      return feed.reading;
    }
    feed.reading = (async () => {
      try {
        do {
          feed.dirty = false;
          if (feed.subs.size === 0) return;
          const from = Math.min(...[...feed.subs].map((s) => s.last));
          reads++;
          const rows = await listEvents(db, runId, from, PAGE);
          deliver(feed, rows);
          if (rows.length === PAGE) feed.dirty = true;
        } while (feed.dirty && !closed);
      } catch (err) {
        log.warn({ runId, err: (err as Error).message }, 'could not read run events; retrying');
        setTimeout(() => feeds.get(runId) === feed && void read(runId, feed), 1000).unref();
      } finally {
        feed.reading = undefined;
      }
    })();
    return feed.reading;
  };

  const unsubscribe = (runId: string, feed: Feed, sub: Subscriber) => {
    sub.closed = true;
    sub.wake?.();
    feed.subs.delete(sub);
    if (feed.subs.size > 0 || feeds.get(runId) !== feed) return;
    feeds.delete(runId);
    const done: Promise<void> = (unwatching.get(runId) ?? Promise.resolve())
      .then(() => unwatchRun(db, runId, listenerId))
      .catch(() => {})
      .finally(() => unwatching.get(runId) === done && unwatching.delete(runId));
    unwatching.set(runId, done);
  };

  return {
    async subscribe(runId, afterId) {
      if (closed) throw new Error('the server is shutting down');
      await connect();
      if (closed) throw new Error('the server is shutting down');
      let feed = feeds.get(runId);
      if (!feed) {
        const after = unwatching.get(runId) ?? Promise.resolve();
        const fresh: Feed = { subs: new Set(), dirty: false, watched: after.then(() => watchRun(db, runId, listenerId, watchTtlMs)) };
        feeds.set(runId, fresh);
        fresh.watched.catch(() => feeds.get(runId) === fresh && feeds.delete(runId));
        feed = fresh;
      }
      const sub: Subscriber = { last: afterId, queue: [], closed: false };
      feed.subs.add(sub);
      const joined = feed;
      try {
        await joined.watched;
        // A read already in flight is marked dirty and reads again: this covers our position too.
        await read(runId, joined);
      } catch (err) {
        unsubscribe(runId, joined, sub);
        throw err;
      }
      return {
        next(timeoutMs) {
          if (sub.queue.length > 0) return Promise.resolve(sub.queue.splice(0));
          if (sub.closed) return Promise.resolve(null);
          return new Promise((resolve) => {
            const timer = setTimeout(() => done(), timeoutMs);
            const done = () => {
              clearTimeout(timer);
              sub.wake = undefined;
              resolve(sub.queue.length > 0 ? sub.queue.splice(0) : sub.closed ? null : []);
            };
            sub.wake = done;
          });
        },
        close: () => unsubscribe(runId, joined, sub),
      };
    },
    async close() {
      closed = true;
      clearInterval(refresher);
      for (const [runId, feed] of feeds) for (const sub of [...feed.subs]) unsubscribe(runId, feed, sub);
      await Promise.allSettled([...unwatching.values()]);
      await Promise.allSettled([unwatchAll(db, listenerId), listener?.close()]);
    },
    stats: () => ({ listening: listener?.listening() ?? false, runs: feeds.size, subscribers: [...feeds.values()].reduce((n, f) => n + f.subs.size, 0), reads }),
  };
}
