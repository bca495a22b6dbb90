import { spawn, type ChildProcess } from 'node:child_process';

/** One of our processes (web, worker, scheduler...) run as a real child, its JSON logs collected. */
export interface AppProcess {
  child: ChildProcess;
  lines: string[];
  /** Resolves with the first log line matching, or rejects after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Sends `signal` and resolves with the exit code and how long the exit took. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export const ENTRIES = {
  web: 'apps/api/main.ts',
  worker: 'apps/worker/main.ts',
  scheduler: 'apps/scheduler/main.ts',
  migrate: 'scripts/migrate.ts',
} as const;

/** Every child still alive when the test file's process exits is killed: a failed test must not leave orphans. */
const alive = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of alive) child.kill('SIGKILL');
});

/** `nodeArgs` go to node itself, before the entry (`--cpu-prof`, which NODE_OPTIONS refuses). */
export function startProcess(entry: string, env: Record<string, string>, nodeArgs: readonly string[] = []): AppProcess {
  // A built entry (dist/…/*.js) runs as the Procfile runs it; a source one under tsx.
  const child = spawn(process.execPath, [...nodeArgs, ...(entry.endsWith('.js') ? [entry] : ['--import', 'tsx', entry])], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  alive.add(child);
  child.once('exit', () => alive.delete(child));
  const lines: string[] = [];
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  const onLine = (line: string) => {
    if (!line) return;
    lines.push(line);
    for (const w of [...waiters]) {
      if (w.pattern.test(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  };
  for (const stream of [child.stdout!, child.stderr!]) {
    // A chunk may end in the middle of a line (or of a character): keep the rest for the next one.
    stream.setEncoding('utf8');
    let partial = '';
    stream.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      parts.forEach(onLine);
    });
    stream.on('end', () => onLine(partial));
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    lines,
    exited,
    waitFor(pattern, timeoutMs = 20_000) {
      const seen = lines.find((l) => pattern.test(l));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no log line matching ${pattern} within ${timeoutMs} ms:\n${lines.slice(-20).join('\n')}`)), timeoutMs);
        waiters.push({ pattern, resolve: (l) => (clearTimeout(timer), resolve(l)) });
        void exited.then(() => setTimeout(() => reject(new Error(`process exited before logging ${pattern}:\n${lines.slice(-20).join('\n')}`)), 50));
      });
    },
    async stop(signal = 'SIGTERM', timeoutMs = 30_000) {
      const started = Date.now();
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const result = await exited;
      clearTimeout(timer);
      return { ...result, ms: Date.now() - started };
    },
  };
}
