import { execFileSync } from 'node:child_process';
import { connect, createServer, type AddressInfo } from 'node:net';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../test/database.js';
import { listen, type Listener } from './listen.js';

const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('one LISTEN connection kept alive (db/listen.ts)', () => {
  let database: TestDatabase;
  let admin: pg.Client;
  const open: Listener[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
  });
  afterAll(async () => {
    await Promise.all(open.map((l) => l.close()));
    await admin.end();
    await database.drop();
  });

  const notify = (channel: string, payload: string) => admin.query('select pg_notify($1, $2)', [channel, payload]);

  it('reconnects after its backend is terminated and calls the catch-up', async () => {
    const got: string[] = [];
    const listenings: boolean[] = [];
    const listener = listen({
      connectionString: database.url,
      applicationName: 'conveyor-listen-test',
      channels: ['listen_test_a', 'listen_test_b'],
      log,
      backoffMs: 800,
      onNotification: (channel, payload) => got.push(`${channel}:${payload}`),
      onListening: ({ reconnected }) => void listenings.push(reconnected),
    });
    open.push(listener);
    await listener.ready;
    expect(listener.listening()).toBe(true);
    expect(listenings).toEqual([false]);
    await notify('listen_test_a', '1');
    await notify('listen_test_b', '2');
    await until('both notifications', () => got.length === 2);

    const before = listener.pid()!;
    const activity = await admin.query('select application_name, client_port from pg_stat_activity where pid = $1', [before]);
    expect(activity.rows[0].application_name).toBe('conveyor-listen-test');
    // TCP keep-alive is on for the listener's socket: the kernel shows its keepalive timer.
    const sockets = execFileSync('ss', ['-tnoH', 'state', 'established', `( sport = :${activity.rows[0].client_port} )`], { encoding: 'utf8' });
    expect(sockets).toMatch(/timer:\(keepalive,/);
    await admin.query('select pg_terminate_backend($1)', [before]);
    await until('the drop to be noticed', () => !listener.listening(), 2_000);
    // Sent in the gap: nobody hears it. That is what the catch-up is for.
    await notify('listen_test_a', 'lost');
    await until('the reconnect', () => listener.listening(), 5_000);
    expect(listener.pid()).not.toBe(before);
    expect(listenings).toEqual([false, true]);
    await notify('listen_test_b', '3');
    await until('a notification after the reconnect', () => got.includes('listen_test_b:3'));
    expect(got).not.toContain('listen_test_a:lost');
  });

  it('keeps retrying with backoff while the server is unreachable, and closes promptly', async () => {
    const unreachable = new URL(database.url);
    unreachable.port = '1'; // nothing listens there
    const listener = listen({
      connectionString: unreachable.toString(),
      applicationName: 'conveyor-listen-test',
      channels: ['listen_test_a'],
      log,
      backoffMs: 50,
      maxBackoffMs: 200,
      onNotification: () => {},
    });
    let ready = false;
    void listener.ready.then(() => (ready = true));
    await new Promise((r) => setTimeout(r, 600));
    expect(ready).toBe(false);
    expect(listener.listening()).toBe(false);
    const closing = Date.now();
    await listener.close();
    expect(Date.now() - closing).toBeLessThan(500);
  });

  it('a half-open connection (nothing comes back) is noticed by the probe and replaced', async () => {
    const proxy = await freezableProxy(new URL(database.url));
    const listenings: boolean[] = [];
    const listener = listen({
      connectionString: proxy.url,
      applicationName: 'conveyor-listen-probe',
      channels: ['listen_test_a'],
      log,
      backoffMs: 50,
      probeEveryMs: 200,
      connectTimeoutMs: 300,
      onNotification: () => {},
      onListening: ({ reconnected }) => void listenings.push(reconnected),
    });
    open.push(listener);
    await listener.ready;
    const pid = listener.pid()!;
    proxy.freeze(); // the current connection goes silent both ways, without a FIN or a reset
    await until('a fresh connection', () => listener.listening() && listener.pid() !== pid, 5_000);
    expect(listenings).toEqual([false, true]);
    proxy.close();
  });
});

/** A TCP proxy to PostgreSQL whose current connections can be made to drop every byte silently. */
async function freezableProxy(target: URL): Promise<{ url: string; freeze(): void; close(): void }> {
  const frozen = new Set<() => void>();
  const server = createServer((client) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    let silent = false;
    client.on('data', (d) => silent || upstream.write(d));
    upstream.on('data', (d) => silent || client.write(d));
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    frozen.add(() => (silent = true));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(target);
  url.hostname = '127.0.0.1';
  url.port = String((server.address() as AddressInfo).port);
  return {
    url: url.toString(),
    freeze: () => {
      for (const f of frozen) f();
      frozen.clear();
    },
    close: () => server.close(),
  };
}
