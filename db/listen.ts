import pg from 'pg';

/** What the listener logs through: pino's shape, declared here so db/ imports nothing of ours. */
export interface ListenLog {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface ListenOptions {
  connectionString: string;
  /** Shown in pg_stat_activity, so an operator (or a test) can find the connection. */
  applicationName: string;
  channels: readonly string[];
  onNotification(channel: string, payload: string | undefined): void;
  /**
   * Called each time LISTEN is in place: first with `reconnected: false`, then after every
   * reconnect. Notifications sent while no connection listened are lost, so this re-reads
   * whatever they would have said. A throw is logged; the connection stays.
   */
  onListening?(info: { reconnected: boolean }): void | Promise<void>;
  log: ListenLog;
  /** First retry delay, doubled per failed attempt up to `maxBackoffMs`, with jitter. Default 250. */
  backoffMs?: number;
  /** Default 10 000. */
  maxBackoffMs?: number;
  /** A connection attempt (connect and LISTEN) that takes longer is abandoned. Default 5 000. */
  connectTimeoutMs?: number;
  /**
   * Every this often a `select 1` must answer within `connectTimeoutMs`, or the connection is
   * dropped and made again: TCP keep-alive notices a half-open connection only after minutes of
   * unanswered probes. Default 30 000.
   */
  probeEveryMs?: number;
}

export interface Listener {
  /** Resolves once the first LISTEN is in place (never rejects: attempts go on until close). */
  ready: Promise<void>;
  listening(): boolean;
  /** The backend pid of the current connection: for tests that terminate it. */
  pid(): number | undefined;
  close(): Promise<void>;
}

/**
 * One LISTEN connection kept alive: TCP keep-alive on its socket, a periodic probe, a
 * reconnect with exponential backoff when it drops, and `onListening` after every reconnect so
 * the caller can catch up on what it missed. The only place Conveyor hand-holds a pg.Client.
 */
export function listen(opts: ListenOptions): Listener {
  const { log } = opts;
  const backoffMs = opts.backoffMs ?? 250;
  const maxBackoffMs = opts.maxBackoffMs ?? 10_000;
  const connectTimeoutMs = opts.connectTimeoutMs ?? 5_000;
  const probeEveryMs = opts.probeEveryMs ?? 30_000;
  let client: pg.Client | undefined;
  let closed = false;
  let listenedBefore = false;
  let probe: NodeJS.Timeout | undefined;
  let loop: Promise<void> | undefined;
  let wait: { timer: NodeJS.Timeout; resolve: () => void } | undefined;
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (markReady = resolve));

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      wait = { timer: setTimeout(resolve, ms * (0.75 + Math.random() / 2)), resolve };
    }).finally(() => (wait = undefined));

  /** Connects until LISTEN is in place (or close), waiting longer after each failure. */
  const reconnect = (firstDelayMs: number) => {
    if (closed || loop) return;
    loop = (async () => {
      let delay = firstDelayMs;
      for (let failures = 0; !closed; failures++) {
        if (delay > 0) await sleep(delay);
        if (closed || (await tryListen())) return;
        delay = Math.min(maxBackoffMs, backoffMs * 2 ** Math.min(failures, 16));
      }
    })().finally(() => (loop = undefined));
  };

  const dropped = (c: pg.Client, reason: string) => {
    if (client !== c) return;
    client = undefined;
    clearInterval(probe);
    c.removeAllListeners('notification');
    void c.end().catch(() => {});
    log.warn({ app: opts.applicationName, err: reason }, 'LISTEN connection lost; reconnecting');
    reconnect(backoffMs);
  };

  /** One attempt: true once listening (or closed meanwhile), false to try again. */
  const tryListen = async (): Promise<boolean> => {
    const c = new pg.Client({
      connectionString: opts.connectionString,
      application_name: opts.applicationName,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      connectionTimeoutMillis: connectTimeoutMs,
    });
    let lost: string | undefined;
    const onLost = (reason: string) => {
      lost ??= reason;
      dropped(c, reason);
    };
    c.on('notification', (msg) => opts.onNotification(msg.channel, msg.payload));
    c.on('error', (err) => onLost(err.message));
    c.on('end', () => onLost('connection ended'));
    try {
      await c.connect();
      for (const channel of opts.channels) await c.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      if (lost) throw new Error(lost);
    } catch (err) {
      c.removeAllListeners('notification');
      void c.end().catch(() => {});
      log.warn({ app: opts.applicationName, err: (err as Error).message }, 'could not LISTEN; retrying');
      return false;
    }
    if (closed) {
      void c.end().catch(() => {});
      return true;
    }
    client = c;
    probe = setInterval(() => void probeConnection(c), probeEveryMs);
    probe.unref();
    const reconnected = listenedBefore;
    listenedBefore = true;
    if (reconnected) log.info({ app: opts.applicationName }, 'LISTEN connection back; catching up');
    markReady();
    // Not awaited: a drop during the catch-up must be free to start the next reconnect.
    void (async () => opts.onListening?.({ reconnected }))().catch((err: Error) =>
      log.warn({ app: opts.applicationName, err: err.message }, 'catching up after LISTEN failed'),
    );
    return true;
  };

  const probeConnection = async (c: pg.Client) => {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer to a probe within ${connectTimeoutMs} ms`)), connectTimeoutMs);
    });
    try {
      await Promise.race([c.query('select 1'), timedOut]);
    } catch (err) {
      dropped(c, (err as Error).message);
    } finally {
      clearTimeout(timer);
    }
  };

  reconnect(0);
  return {
    ready,
    listening: () => client !== undefined,
    pid: () => (client as unknown as { processID?: number } | undefined)?.processID,
    async close() {
      closed = true;
      clearInterval(probe);
      if (wait) {
        clearTimeout(wait.timer);
        wait.resolve();
      }
      await loop;
      const c = client;
      client = undefined;
      c?.removeAllListeners('notification');
      await c?.end().catch(() => {});
    },
  };
}
