import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../lib/cli/main.js';
import { startStack, waitForRun, type TestStack } from './stack.js';

const BIN = path.resolve('bin/conveyor.js');

/** The CLI as a user runs it: a real process, its output and exit code. */
function cli(args: string[], env: Record<string, string>, timeoutMs = 60_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`conveyor ${args.join(' ')} still running after ${timeoutMs} ms:\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const workflow = (n: number) => ({
  name: 'cli-demo',
  nodes: [
    { id: 'first', type: 'transform', params: { value: { n: '{{ input.n }}', v: n } } },
    { id: 'check', type: 'transform', params: { value: '{{ $number(nodes.first.output.n) > 0 ? "ok" : $error("n must be positive") }}' } },
  ],
  edges: [{ from: 'first', to: 'check' }],
});

describe('the conveyor CLI against a real server', () => {
  /** The newest run of `workflow` once its first node waits. */
  const waitForWaitingRun = async (name: string): Promise<string> => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const list = await stack.request('GET', `/v1/runs?workflow=${name}&status=running`);
      const id = list.body.items?.[0]?.id as string | undefined;
      if (id && (await stack.request('GET', `/v1/runs/${id}`)).body.nodes.some((n: { status: string }) => n.status === 'waiting')) return id;
      if (Date.now() > deadline) throw new Error(`no waiting run of ${name}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  let stack: TestStack;
  let server: ServerType;
  let env: Record<string, string>;
  let dir: string;

  /** In-process (same code as the bin, without a process start per call). */
  const inProcess = async (args: string[], extraEnv: Record<string, string> = {}) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(args, {
      env: { ...env, ...extraEnv },
      out: (t) => out.push(t),
      err: (t) => err.push(t),
      readFile: async (p) => (await import('node:fs/promises')).readFile(p, 'utf8'),
    });
    return { code, stdout: out.join('\n'), stderr: err.join('\n') };
  };

  beforeAll(async () => {
    stack = await startStack();
    server = await new Promise<ServerType>((resolve) => {
      const s = serve({ fetch: stack.app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
    });
    env = { CONVEYOR_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, CONVEYOR_API_KEY: stack.adminKey };
    dir = await mkdtemp(path.join(tmpdir(), 'conveyor-cli-'));
  });
  afterAll(async () => {
    await stack.runEvents.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await stack.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('applies a workflow (create, then a new version) and lists it', async () => {
    const file = path.join(dir, 'wf.json');
    await writeFile(file, JSON.stringify(workflow(1)));
    const created = await cli(['workflows', 'apply', '-f', file], env);
    expect(created, created.stderr).toMatchObject({ code: 0 });
    expect(created.stdout).toMatch(/created workflow cli-demo version 1/);
    await writeFile(file, JSON.stringify(workflow(2)));
    const updated = await inProcess(['workflows', 'apply', '-f', file, '--json']);
    expect(updated.code).toBe(0);
    expect(JSON.parse(updated.stdout)).toMatchObject({ name: 'cli-demo', version: 2, action: 'updated' });
    const list = await inProcess(['workflows', 'list']);
    expect(list.stdout).toMatch(/^NAME\s+VERSION\s+UPDATED\s+ID/);
    expect(list.stdout).toMatch(/cli-demo\s+2\s/);
    const listJson = JSON.parse((await inProcess(['workflows', 'list', '--json'])).stdout);
    expect(listJson.map((w: { name: string }) => w.name)).toContain('cli-demo');
  });

  it('run --follow shows nodes changing live and exits 0 for a succeeded run, 1 for a failed one', async () => {
    const ok = await cli(['run', 'cli-demo', '--input', '{"n": 5}', '--follow'], env);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    const lines = ok.stdout.split('\n');
    const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
    expect(at(/run queued/)).toBeGreaterThanOrEqual(0);
    expect(at(/first\s+running/)).toBeGreaterThan(at(/run queued/));
    expect(at(/first\s+succeeded\s+\(\d/)).toBeGreaterThan(at(/first\s+running/));
    expect(at(/check\s+succeeded/)).toBeGreaterThan(at(/first\s+succeeded/));
    expect(at(/run succeeded/)).toBeGreaterThan(at(/check\s+succeeded/));
    // Then the run as `runs show` prints it.
    expect(ok.stdout).toMatch(/status\s+succeeded/);
    expect(ok.stdout).toMatch(/NODE\s+TYPE\s+STATUS\s+ATTEMPTS\s+DURATION/);

    const bad = await cli(['run', 'cli-demo', '--input', '{"n": -1}', '--follow'], env);
    expect(bad.code, bad.stdout + bad.stderr).toBe(1);
    expect(bad.stdout).toMatch(/check\s+failed.*n must be positive/);
    expect(bad.stdout).toMatch(/run failed/);

    const json = await inProcess(['run', 'cli-demo', '--input', '{"n": 2}', '--follow', '--json']);
    expect(json.code).toBe(0);
    const docs = json.stdout.split('\n').map((l) => JSON.parse(l));
    expect(docs[0]).toMatchObject({ type: 'run.queued' });
    expect(docs.at(-2)).toMatchObject({ type: 'run.succeeded' });
    expect(docs.at(-1)).toMatchObject({ status: 'succeeded', nodes: expect.any(Array) });
  });

  it('exits 2 when the followed run is cancelled; cancels and retries runs', async () => {
    const waiting = { name: 'cli-wait', nodes: [{ id: 'gate', type: 'wait.signal', params: {} }, { id: 'after', type: 'noop', params: {} }], edges: [{ from: 'gate', to: 'after' }] };
    expect((await stack.request('POST', '/v1/workflows', { body: waiting })).status).toBe(201);
    const follower = cli(['run', 'cli-wait', '--follow'], env);
    const runId = await waitForWaitingRun('cli-wait');
    const cancel = await inProcess(['runs', 'cancel', runId]);
    expect(cancel).toMatchObject({ code: 0, stdout: `cancelled run ${runId}` });
    const followed = await follower;
    expect(followed.code, followed.stdout + followed.stderr).toBe(2);
    expect(followed.stdout).toMatch(/gate\s+waiting/);
    expect(followed.stdout).toMatch(/run cancelled/);

    const retry = await inProcess(['runs', 'retry', runId, '--json']);
    expect(retry.code, retry.stderr).toBe(0);
    const retryId = JSON.parse(retry.stdout).id as string;
    expect(retryId).not.toBe(runId);
    expect((await stack.request('GET', `/v1/runs/${retryId}`)).body).toMatchObject({ retryOf: runId, trigger: { type: 'retry' } });
    expect(await inProcess(['runs', 'retry', retryId])).toMatchObject({ code: 3, stderr: expect.stringContaining('only a failed or cancelled run can be retried') });
    expect((await inProcess(['runs', 'cancel', retryId])).code).toBe(0);
  });

  it('shows a run as a readable per-node table with durations and errors', async () => {
    const run = await stack.request('POST', '/v1/workflows/cli-demo/runs', { body: { input: { n: -3 } } });
    await waitForRun(stack, run.body.id);
    const shown = await inProcess(['runs', 'show', run.body.id]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(new RegExp(`run\\s+${run.body.id}`));
    expect(shown.stdout).toMatch(/workflow\s+cli-demo \(version 2\)/);
    expect(shown.stdout).toMatch(/status\s+failed/);
    expect(shown.stdout).toMatch(/first\s+transform\s+succeeded\s+1\s+\d+ ms/);
    expect(shown.stdout).toMatch(/check\s+transform\s+failed\s+1\s+\d+ ms\s+expression_error: /);
    expect(shown.stdout).toMatch(/errors:\n  check: expression_error: .*n must be positive/);
    const listed = await inProcess(['runs', 'list', '--workflow', 'cli-demo', '--status', 'failed']);
    expect(listed.stdout).toMatch(/^ID\s+WORKFLOW\s+STATUS/);
    expect(listed.stdout).toContain(run.body.id);
    expect(JSON.parse((await inProcess(['runs', 'show', run.body.id, '--json'])).stdout)).toMatchObject({ id: run.body.id, status: 'failed' });
  });

  it('creates keys, and says clearly what went wrong', async () => {
    const key = await inProcess(['keys', 'create', '--role', 'viewer', '--name', 'ci-reader', '--json']);
    expect(key.code).toBe(0);
    const viewer = JSON.parse(key.stdout);
    expect(viewer).toMatchObject({ role: 'viewer', name: 'ci-reader', secret: expect.stringMatching(/^cvy_/) });
    // The viewer key reads but cannot start runs: the API's message, one line, exit 3.
    expect((await inProcess(['runs', 'list'], { CONVEYOR_API_KEY: viewer.secret })).code).toBe(0);
    const refused = await inProcess(['run', 'cli-demo'], { CONVEYOR_API_KEY: viewer.secret });
    expect(refused).toMatchObject({ code: 3, stderr: expect.stringMatching(/needs the editor role.*\[403 forbidden\]/) });
    expect(await inProcess(['runs', 'list'], { CONVEYOR_API_KEY: 'cvy_wrong' })).toMatchObject({ code: 3, stderr: expect.stringContaining('check CONVEYOR_API_KEY') });
    expect(await inProcess(['runs', 'show', '00000000-0000-4000-8000-000000000000'])).toMatchObject({ code: 3, stderr: expect.stringContaining('not found') });
    expect(await inProcess(['run', 'cli-demo', '--input', '{nope'])).toMatchObject({ code: 64, stderr: expect.stringContaining('--input is not valid JSON') });
    expect(await inProcess(['run', 'cli-demo', '--bogus'])).toMatchObject({ code: 64, stderr: expect.stringContaining("Unknown option '--bogus'") });
    expect(await inProcess(['keys', 'create'])).toMatchObject({ code: 64, stderr: expect.stringContaining('--role') });
    expect(await inProcess(['frobnicate'])).toMatchObject({ code: 64, stderr: expect.stringContaining('unknown command') });
    expect(await inProcess(['runs', 'list'], { CONVEYOR_URL: '' })).toMatchObject({ code: 64, stderr: expect.stringContaining('CONVEYOR_URL') });
    const unreachable = await inProcess(['runs', 'list'], { CONVEYOR_URL: 'http://127.0.0.1:9' });
    expect(unreachable).toMatchObject({ code: 3, stderr: expect.stringContaining('Cannot reach Conveyor') });
    expect(unreachable.stderr).not.toMatch(/\n\s+at /);
  });

  it('has --help everywhere', async () => {
    const top = await cli(['--help'], {});
    expect(top.code).toBe(0);
    for (const c of ['workflows apply', 'workflows list', 'run <workflow>', 'runs list', 'runs show', 'runs cancel', 'runs retry', 'keys create']) expect(top.stdout).toContain(c);
    for (const args of [['run', '--help'], ['runs', 'show', '-h'], ['workflows', 'apply', '--help'], ['keys', 'create', '--help'], ['help', 'runs list'], ['runs', '--help']]) {
      const res = await inProcess(args, { CONVEYOR_URL: '', CONVEYOR_API_KEY: '' });
      expect(res.code, args.join(' ')).toBe(0);
      expect(res.stdout, args.join(' ')).toMatch(/conveyor (run|runs|workflows|keys)/);
    }
    expect((await inProcess(['run', '--help'])).stdout).toContain('Exit codes with --follow: 0 succeeded, 1 failed, 2 cancelled');
  });
});
