import { CREDENTIAL_CHANGES_CHANNEL } from '../../db/credentials.js';
import type { Database } from '../../db/database.js';
import { listen, type Listener } from '../../db/listen.js';
import { endedRuns } from '../../db/runs.js';
import type { Logger } from '../logger.js';
import type { RunAborts } from './aborts.js';
import { NodeError } from './node-errors.js';

/** The channel a cancelled run's id is NOTIFYed on, from inside the cancelling transaction. */
export const CANCEL_CHANNEL = 'conveyor_cancel';

/** A cache of decrypted credentials to keep current (lib/credentials/cache.ts). */
export interface CredentialChanges {
  invalidate(workspaceId: string): void;
  clear(): void;
}

/**
 * LISTENs for cancelled runs and aborts their in-flight providers in this process. Postgres is
 * there on both queue backends, and NOTIFY is delivered only on commit: a cancel that rolls back
 * aborts nothing. A dropped connection reconnects (db/listen.ts); a cancel sent meanwhile is
 * caught up on reconnect, given `db`: every run with a node in flight here that has ended is
 * aborted as its NOTIFY would have.
 *
 * Given `credentials`, the same connection also LISTENs for credential changes and drops the
 * changed workspace's cached entries. While it is down the cache's TTL bounds staleness; once it
 * listens again the whole cache is dropped, since notifications sent meanwhile are lost.
 */
export function listenForCancellations(
  databaseUrl: string,
  aborts: RunAborts,
  log: Logger,
  opts: { credentials?: CredentialChanges; db?: Database; backoffMs?: number } = {},
): { ready: Promise<void>; close(): Promise<void>; listener: Listener } {
  const { credentials, db } = opts;
  const abort = (runId: string, why: string) => {
    const aborted = aborts.abortRun(runId, new NodeError('cancelled', 'run cancelled'));
    if (aborted) log.info({ runId, aborted }, why);
  };
  const listener = listen({
    connectionString: databaseUrl,
    applicationName: 'conveyor-cancel-listener',
    channels: credentials ? [CANCEL_CHANNEL, CREDENTIAL_CHANGES_CHANNEL] : [CANCEL_CHANNEL],
    log,
    backoffMs: opts.backoffMs,
    onNotification(channel, payload) {
      if (!payload) return;
      if (channel === CREDENTIAL_CHANGES_CHANNEL) {
        if (payload === '*') credentials?.clear();
        else credentials?.invalidate(payload);
      } else if (channel === CANCEL_CHANNEL) abort(payload, 'cancelled run: providers aborted');
    },
    async onListening({ reconnected }) {
      // Listening from here on: whatever changed before (or while reconnecting) is dropped now.
      credentials?.clear();
      if (!reconnected || !db) return;
      for (const runId of await endedRuns(db, aborts.runIds())) abort(runId, 'run ended while the cancel listener reconnected: providers aborted');
    },
  });
  return { ready: listener.ready, close: () => listener.close(), listener };
}
