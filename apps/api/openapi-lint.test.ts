import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../../test/stack.js';

const run = promisify(execFile);

/**
 * The spec the console is typed from (ui/src/api-types.ts) must be complete: Redocly's
 * recommended rules, with only the exceptions the README justifies (section Console).
 */
const JUSTIFIED = new Set([
  // No license: Conveyor is a private package; the spec describes this server's API only.
  'info-license',
  // Probes and the sign-in options take no input and no key: nothing a client sends can be wrong.
  'operation-4xx-response #/paths/~1healthz/get/responses',
  'operation-4xx-response #/paths/~1readyz/get/responses',
  'operation-4xx-response #/paths/~1ui~1sign-in-options/get/responses',
  // Single sign-on is a browser redirect there and back: its success is a 302, not a 2xx.
  'operation-2xx-response #/paths/~1ui~1oidc~1start/get/responses',
  'operation-2xx-response #/paths/~1ui~1oidc~1callback/get/responses',
]);

describe('the OpenAPI spec', () => {
  let stack: TestStack;
  let dir: string;
  beforeAll(async () => {
    stack = await startStack({ workers: false });
    dir = await mkdtemp(path.join(tmpdir(), 'conveyor-spec-'));
  });
  afterAll(async () => {
    await stack?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('lints clean with Redocly recommended: an operationId, error answers and servers everywhere', async () => {
    const spec = (await stack.request('GET', '/openapi.json', { key: null })).body;
    const file = path.join(dir, 'openapi.json');
    await writeFile(file, JSON.stringify(spec));
    const cli = path.resolve('node_modules/@redocly/cli/bin/cli.js');
    const out = await run(process.execPath, [cli, 'lint', '--format=json', '--extends=recommended', file], { maxBuffer: 64 * 1024 * 1024 }).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
    const report = JSON.parse(out.stdout.slice(out.stdout.indexOf('{'))) as { problems: { ruleId: string; severity: string; message: string; location: { pointer: string }[] }[] };
    const problems = report.problems.filter((p) => !JUSTIFIED.has(p.ruleId) && !JUSTIFIED.has(`${p.ruleId} ${p.location[0]?.pointer}`)).map((p) => `${p.severity} ${p.ruleId}: ${p.message} at ${p.location[0]?.pointer}`);
    expect(problems).toEqual([]);
    const ids = Object.values(spec.paths as Record<string, Record<string, { operationId: string }>>).flatMap((ops) => Object.values(ops).map((o) => o.operationId));
    expect(new Set(ids).size).toBe(ids.length);
  });
});
