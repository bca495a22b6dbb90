import pg from 'pg';
import { CREDENTIAL_CHANGES_CHANNEL } from '../../db/credentials.js';
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
 * aborts nothing. A dropped connection reconnects; meanwhile the heartbeat still catches it.
 *
 * Given `credentials`, the same connection also LISTENs for credential changes and drops the
 * changed workspace's cached entries. While it is down the cache's TTL bounds staleness; once it
 * listens again the whole cache is dropped, since notifications sent meanwhile are lost.
 */
export function listenForCancellations(
  databaseUrl: string,
  aborts: RunAborts,
  log: Logger,
  opts: { credentials?: CredentialChanges } = {},
): { ready: Promise<void>; close(): Promise<void> } {
  const { credentials } = opts;
  let client: pg.Client | undefined;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (markReady = resolve));

  const connect = async () => {
    const c = new pg.Client({ connectionString: databaseUrl, application_name: 'conveyor-cancel-listener' });
    c.on('notification', (msg) => {
      if (msg.channel === CREDENTIAL_CHANGES_CHANNEL && msg.payload) {
        if (msg.payload === '*') credentials?.clear();
        else credentials?.invalidate(msg.payload);
        return;
      }
      if (msg.channel !== CANCEL_CHANNEL || !msg.payload) return;
      const aborted = aborts.abortRun(msg.payload, new NodeError('cancelled', 'run cancelled'));
      if (aborted) log.info({ runId: msg.payload, aborted }, 'cancelled run: providers aborted');
    });
    c.on('error', (err) => {
      log.warn({ err: err.message }, 'cancel listener connection lost; reconnecting');
      void c.end().catch(() => {});
      schedule();
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${CANCEL_CHANNEL}`);
      if (credentials) await c.query(`LISTEN ${CREDENTIAL_CHANGES_CHANNEL}`);
      if (closed) return void (await c.end());
      // Listening from here on: whatever changed before (or while reconnecting) is dropped now.
      credentials?.clear();
      client = c;
      markReady();
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'cancel listener could not connect; retrying');
      void c.end().catch(() => {});
      schedule();
    }
  };
  const schedule = () => {
    if (closed || retry) return;
    retry = setTimeout(() => {
      retry = undefined;
      void connect();
    }, 1000);
  };
  void connect();
  return {
    ready,
    async close() {
      closed = true;
      clearTimeout(retry);
      await client?.end().catch(() => {});
    },
  };
}
