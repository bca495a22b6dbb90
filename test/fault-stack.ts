import { afterAll, beforeAll } from 'vitest';
import { ENTRIES, startProcess, type AppProcess } from './process.js';
import { startStack, type Backend, type TestStack } from './stack.js';
import { startTargetServer, type TargetServer } from './target-server.js';

export interface FaultStack {
  stack: TestStack;
  target: TargetServer;
  /** Worker processes started so far; each is SIGKILLed after the file's tests. */
  procs: AppProcess[];
  /** Starts one more worker process and resolves once it consumes. */
  worker(): Promise<AppProcess>;
  /**
   * `GET path` on the target answers `{}` after `firstMs` the first time and `thenMs` after: a
   * first call that outlasts a worker's start-up, so the worker holding it is surely mid-node
   * when the test kills it.
   */
  slowFirstCall(path: string, firstMs: number, thenMs: number): void;
}

/**
 * For tests that kill workers: a stack without in-process workers, so every node runs in a real
 * worker process, a short node lock so a dead worker's node is retaken quickly, and a local
 * target the SSRF guard lets through.
 */
export function useFaultStack(backend: Backend, workerConcurrency: number): FaultStack {
  const f = { procs: [] as AppProcess[] } as FaultStack;
  beforeAll(async () => {
    f.target = await startTargetServer();
    f.stack = await startStack({ backend, workers: false, env: { NODE_LOCK_MS: '2000', HTTP_ALLOW_HOSTS: '127.0.0.1' } });
  });
  afterAll(async () => {
    await Promise.all(f.procs.map((p) => p.stop('SIGKILL')));
    await f.stack?.close();
    await f.target?.close();
  });
  f.worker = async () => {
    const p = startProcess(ENTRIES.worker, { ...f.stack.env, WORKER_CONCURRENCY: String(workerConcurrency) });
    f.procs.push(p);
    await p.waitFor(/worker consuming/);
    return p;
  };
  f.slowFirstCall = (path, firstMs, thenMs) => {
    let calls = 0;
    f.target.route('GET', path, (_req, res) => {
      calls += 1;
      const timer = setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'), calls === 1 ? firstMs : thenMs);
      res.on('close', () => clearTimeout(timer));
    });
  };
  return f;
}
