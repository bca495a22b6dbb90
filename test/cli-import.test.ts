import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../lib/cli/main.js';
import { startStack, type TestStack } from './stack.js';

const FIXTURES = path.resolve('test/fixtures/n8n');

describe('conveyor import n8n', () => {
  let stack: TestStack;
  let server: ServerType;
  let env: Record<string, string>;

  const cli = async (args: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(args, { env, out: (t) => out.push(t), err: (t) => err.push(t), readFile: (p) => readFile(p, 'utf8') });
    return { code, stdout: out.join('\n'), stderr: err.join('\n') };
  };

  beforeAll(async () => {
    stack = await startStack({ workers: false });
    server = await new Promise<ServerType>((resolve) => {
      const s = serve({ fetch: stack.app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
    });
    env = { CONVEYOR_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, CONVEYOR_API_KEY: stack.adminKey };
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await stack.close();
  });

  it('--dry-run prints what each node would become and creates nothing', async () => {
    const res = await cli(['import', 'n8n', path.join(FIXTURES, 'post-http-v3.json'), '--dry-run']);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/^dry run: workflow stock-sync would have 3 node\(s\); nothing was created/);
    expect(res.stdout).toMatch(/N8N NODE\s+N8N TYPE\s+OUTCOME\s+CONVEYOR/);
    expect(res.stdout).toMatch(/Upload stock sheet\s+httpRequest\s+converted\s+upload_stock_sheet \(http\.request\)/);
    expect((await stack.request('GET', '/v1/workflows/stock-sync')).status).toBe(404);
  });

  it('imports (created, then updated) under --name, and --json gives the whole answer', async () => {
    const file = path.join(FIXTURES, 'post-http-v3.json');
    const first = await cli(['import', 'n8n', file, '--name', 'stock']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^created workflow stock version 1 \(/);
    expect(first.stdout).toMatch(/warnings:\n {2}- workflow settings not carried over: executionOrder\n {2}- pinned data/);
    const second = await cli(['import', 'n8n', file, '--name', 'stock', '--json']);
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ workflow: { name: 'stock', version: 2 }, report: { nodes: expect.any(Array) } });
  });

  it('refuses unconvertible nodes listing each (exit 3) unless --allow-partial', async () => {
    const file = path.join(FIXTURES, 'alerts-if-v1.json');
    const refused = await cli(['import', 'n8n', file]);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/\[422 unconvertible\]\n {2}- \/nodes\/Sample readings: node 'Sample readings'/);
    const partial = await cli(['import', 'n8n', file, '--allow-partial']);
    expect(partial.code, partial.stderr).toBe(0);
    expect(partial.stdout).toMatch(/Sample readings\s+code\s+placeholder\s+sample_readings \(noop\)/);
  });

  it('reports a file that is not JSON as bad usage', async () => {
    const res = await cli(['import', 'n8n', path.join(FIXTURES, 'README.md')]);
    expect(res.code).toBe(64);
    expect(res.stderr).toMatch(/README\.md is not valid JSON/);
  });
});
