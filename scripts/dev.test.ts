import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { scratchDataParent } from './embedded-postgres.js';
import { freePort } from './free-port.js';

/** `npm start` from an empty .data/: embedded PostgreSQL, PostgreSQL queue backend, three processes. */
async function launch(dataDir: string, port: number) {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', CONVEYOR_DATA_DIR: dataDir, PORT: String(port), SHUTDOWN_GRACE_MS: '5000' };
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/dev.ts'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + 60_000;
  while (!output.includes('Conveyor is running')) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`launcher did not start:\n${output}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return { child, exited, output: () => output };
}

describe('npm start (dev launcher)', () => {
  let dir: string;
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('starts from an empty .data/, answers /readyz, stops cleanly on Ctrl-C, and a second start reuses the data', async () => {
    dir = await scratchDataParent('conveyor-dev-');
    const dataDir = path.join(dir, '.data');
    const port = await freePort();

    const first = await launch(dataDir, port);
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(ready.status).toBe(200);
    const key = (await readFile(path.join(dataDir, 'admin.key'), 'utf8')).trim();
    expect(first.output()).toContain(key);
    expect(first.output()).toMatch(/\/docs/);
    expect(first.output()).toMatch(/\/admin\/queues/);
    const providers = await fetch(`http://127.0.0.1:${port}/v1/providers`, { headers: { authorization: `Bearer ${key}` } });
    expect(providers.status).toBe(200);
    // A console too: the page, and its sign-in.
    expect(first.output()).toContain('/ui/');
    const page = await fetch(`http://127.0.0.1:${port}/ui/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<script type="module" crossorigin src="\/ui\/assets\//);
    const session = await fetch(`http://127.0.0.1:${port}/ui/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apiKey: key }) });
    expect(session.status).toBe(201);
    first.child.kill('SIGINT');
    expect(await first.exited).toBe(0);
    expect(first.output()).toMatch(/web\b.*shut down cleanly/);
    expect(first.output()).toMatch(/worker\b.*shut down cleanly/);
    expect(first.output()).toMatch(/scheduler\b.*shut down cleanly/);
    // The embedded server stopped with us: no orphan left holding the data directory.
    expect(existsSync(path.join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false);

    const second = await launch(dataDir, port);
    expect(second.output()).not.toContain('initialising PostgreSQL');
    expect((await readFile(path.join(dataDir, 'admin.key'), 'utf8')).trim()).toBe(key);
    const again = await fetch(`http://127.0.0.1:${port}/v1/providers`, { headers: { authorization: `Bearer ${key}` } });
    expect(again.status).toBe(200);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  }, 120_000);
});
