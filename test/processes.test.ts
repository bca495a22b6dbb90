import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connect } from 'node:net';
import { freePort } from '../scripts/free-port.js';
import { ENTRIES, startProcess } from './process.js';
import { backends, startStack, type TestStack } from './stack.js';

const GRACE_MS = 5_000;

describe.each(backends())('processes on the %s backend', (backend) => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack({ backend, workers: false });
  });
  afterAll(() => stack.close());

  it.each([
    ['web', /web listening/],
    ['worker', /worker consuming/],
    ['scheduler', /scheduler started/],
  ] as const)('%s starts, logs what it connected to, and exits 0 on SIGTERM within the grace period', async (name, ready) => {
    const env = { ...stack.env, PORT: String(await freePort()), SHUTDOWN_GRACE_MS: String(GRACE_MS) };
    const proc = startProcess(ENTRIES[name], env);
    const line = JSON.parse(await proc.waitFor(ready));
    expect(JSON.stringify(line)).toContain(backend);
    if (name === 'web') {
      expect((await fetch(`http://127.0.0.1:${env.PORT}/readyz`)).status).toBe(200);
      // Refused by Node's parser before Hono sees it: still the JSON error shape.
      const raw = await rawRequest(Number(env.PORT), `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
      expect(raw).toMatch(/^HTTP\/1\.1 431/);
      expect(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4))).toMatchObject({ error: { code: 'headers_too_large' } });
      const garbage = await rawRequest(Number(env.PORT), 'NOT HTTP AT ALL\r\n\r\n');
      expect(garbage).toMatch(/^HTTP\/1\.1 400[\s\S]*"code":"bad_request"/);
    }
    const { code, ms } = await proc.stop('SIGTERM');
    expect(code, proc.lines.slice(-10).join('\n')).toBe(0);
    expect(ms).toBeLessThan(GRACE_MS);
    expect(proc.lines.some((l) => l.includes('shut down cleanly'))).toBe(true);
  });

  it('a worker on an unmigrated database exits 1 naming what to run, rather than consuming', async () => {
    const admin = new pg.Client({ connectionString: inject('pgServerUrl') });
    await admin.connect();
    const name = `conveyor_bare_${randomBytes(3).toString('hex')}`;
    await admin.query(`create database ${name}`);
    try {
      const url = new URL(inject('pgServerUrl'));
      url.pathname = `/${name}`;
      const proc = startProcess(ENTRIES.worker, { ...stack.env, DATABASE_URL: url.toString() });
      const { code } = await proc.exited;
      expect(code).toBe(1);
      expect(proc.lines.join('\n')).toMatch(/npm run migrate/);
      expect(proc.lines.join('\n')).toMatch(/0001_initial/);
    } finally {
      await admin.query(`drop database if exists ${name} with (force)`);
      await admin.end();
    }
  });

  it('a bad configuration exits 1 naming every problem before connecting', async () => {
    const proc = startProcess(ENTRIES.web, { PORT: 'x', DATABASE_URL: 'mysql://nope', LOG_LEVEL: 'loud', HTTP_KEEP_ALIVE_TIMEOUT_MS: '65s' });
    const { code } = await proc.exited;
    expect(code).toBe(1);
    const text = proc.lines.join('\n');
    for (const name of ['PORT', 'DATABASE_URL', 'LOG_LEVEL', 'ENCRYPTION_KEY', 'HTTP_KEEP_ALIVE_TIMEOUT_MS']) expect(text).toContain(name);
  });
});

/** Sends bytes as they are and returns everything the server answers before closing. */
function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.end(text));
    let answer = '';
    socket.on('data', (d) => (answer += d.toString('utf8')));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
    socket.setTimeout(5000, () => socket.destroy(new Error('no answer')));
  });
}
