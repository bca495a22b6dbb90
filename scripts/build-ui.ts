import { existsSync } from 'node:fs';
import { readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Builds the console (ui/ → dist/ui) when it is missing or older than its sources, for
 * `npm start` and `npm test`; `npm run build` always builds it. The new build is written beside
 * dist/ui and swapped in by rename, so a web process or a test reading dist/ui never sees half a build.
 */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SOURCES = path.join(ROOT, 'ui');
export const CONSOLE_OUT = path.join(ROOT, 'dist', 'ui');

async function newestMtime(dir: string): Promise<number> {
  let newest = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? await newestMtime(p) : (await stat(p)).mtimeMs);
  }
  return newest;
}

export async function consoleIsStale(): Promise<boolean> {
  const index = path.join(CONSOLE_OUT, 'index.html');
  if (!existsSync(index) || !existsSync(path.join(CONSOLE_OUT, 'assets'))) return true;
  return (await newestMtime(SOURCES)) > (await stat(index)).mtimeMs;
}

export async function buildConsole(): Promise<void> {
  const { build } = await import('vite');
  const tmp = path.join(ROOT, 'dist', `.ui-build-${process.pid}-${Date.now()}`);
  await build({ configFile: path.join(SOURCES, 'vite.config.ts'), build: { outDir: tmp, emptyOutDir: true }, logLevel: 'warn' });
  const old = `${tmp}-old`;
  if (existsSync(CONSOLE_OUT)) await rename(CONSOLE_OUT, old).catch(() => {});
  await rename(tmp, CONSOLE_OUT).catch(async (err: NodeJS.ErrnoException) => {
    // Another process swapped its build in first: theirs is as fresh as ours.
    if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
    await rm(tmp, { recursive: true, force: true });
  });
  await rm(old, { recursive: true, force: true });
}

/** Builds when needed; says so through `log`. */
export async function ensureConsoleBuilt(log: (line: string) => void = () => {}): Promise<void> {
  if (!(await consoleIsStale())) return;
  const started = Date.now();
  log('building the console (ui/ → dist/ui)...');
  await buildConsole();
  log(`console built in ${Date.now() - started} ms`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  await buildConsole();
}
