import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from './free-port.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const asRoot = process.getuid?.() === 0;

/** `npm start`'s script, run in `cwd` as a user would: the launcher under tsx, .data/ beside it. */
async function launch(cwd: string, port: number) {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', PORT: String(port), SHUTDOWN_GRACE_MS: '5000' };
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/dev.ts'], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + 90_000;
  while (!output.includes('Conveyor is running')) {
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGINT');
      throw new Error(`launcher did not start:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { child, exited, output: () => output };
}

/**
 * A checkout in a 0700 directory (a root's home, `mktemp -d`), started as root: PostgreSQL runs as
 * the `postgres` user, which cannot enter it. The cluster goes where that user can, and the
 * checkout's .data/ points there. The checkout is the working tree's files (a clone would miss
 * uncommitted work), with node_modules linked rather than installed.
 */
describe.skipIf(!asRoot)('npm start as root from a 0700 directory', () => {
  let parent: string | undefined;
  let relocated: string | undefined;
  afterAll(async () => {
    if (relocated) await rm(relocated, { recursive: true, force: true });
    if (parent) await rm(parent, { recursive: true, force: true });
  });

  it('keeps the cluster where the postgres user can reach it, says where, and finds it again on restart', async () => {
    parent = await mkdtemp(path.join(tmpdir(), 'conveyor-private-'));
    expect((await stat(parent)).mode & 0o777).toBe(0o700);
    const checkout = path.join(parent, 'conveyor');
    await mkdir(checkout);
    for (const entry of ['package.json', 'tsconfig.json', 'apps', 'lib', 'db', 'scripts', 'migrations', 'ui', 'dist/ui']) {
      // Times kept, so the console build in dist/ui stays as fresh as its sources and is not rebuilt.
      await cp(path.join(ROOT, entry), path.join(checkout, entry), { recursive: true, preserveTimestamps: true });
    }
    await symlink(path.join(ROOT, 'node_modules'), path.join(checkout, 'node_modules'));
    const data = path.join(checkout, '.data');
    const port = await freePort();

    const first = await launch(checkout, port);
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
    const pointer = path.join(data, 'postgres.location');
    expect(existsSync(pointer)).toBe(true);
    relocated = (await readFile(pointer, 'utf8')).trim();
    expect(relocated.startsWith(parent)).toBe(false);
    expect(first.output()).toContain(`data in ${relocated}`);
    expect(first.output()).toContain(`the postgres user cannot enter ${data}`);
    expect(existsSync(path.join(relocated, 'PG_VERSION'))).toBe(true);
    const { stdout: owner } = await promisify(execFile)('stat', ['-c', '%U', relocated]);
    expect(owner.trim()).toBe('postgres');
    const key = (await readFile(path.join(data, 'admin.key'), 'utf8')).trim();
    expect((await fetch(`http://127.0.0.1:${port}/v1/providers`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(200);
    first.child.kill('SIGINT');
    expect(await first.exited).toBe(0);
    expect(existsSync(path.join(relocated, 'postmaster.pid'))).toBe(false);

    // Restarted: the same cluster (no initdb), the same key, and nothing above the checkout changed.
    const second = await launch(checkout, port);
    expect(second.output()).not.toContain('initialising PostgreSQL');
    expect(second.output()).toContain(`data in ${relocated}`);
    expect((await fetch(`http://127.0.0.1:${port}/v1/providers`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(200);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    expect((await stat(parent)).mode & 0o777).toBe(0o700);
  }, 180_000);
});
