import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startProcess, ENTRIES } from '../../test/process.js';
import { nodeQueueNames } from '../engine/queues.js';
import { validateWorkflow } from '../workflows/validate.js';
import { PluginLoadError, createPluginRegistry, loadPlugins } from './plugins.js';
import { providerCatalog } from './registry.js';

const FIXTURES = 'test/fixtures/plugins';
const fixture = (name: string) => `./${FIXTURES}/${name}`;

async function problemsOf(specs: string[]): Promise<string[]> {
  const err = await loadPlugins(specs).then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(PluginLoadError);
  return (err as PluginLoadError).problems;
}

describe('loadPlugins', () => {
  it('loads a plain .mjs plugin (relative or absolute path) and a typed TypeScript one', async () => {
    const relative = await loadPlugins([fixture('sample.mjs')]);
    expect(relative.map((p) => p.type)).toEqual(['sample.greet', 'sample.fetch-json']);
    const absolute = await loadPlugins([path.resolve(FIXTURES, 'typed.ts')]);
    expect(absolute.map((p) => p.type)).toEqual(['typed.double']);
    expect(await loadPlugins([])).toEqual([]);
  });

  it('loads npm packages installed in the working directory: CommonJS and ESM-only', async () => {
    const cwd = await mkdtemp(path.join(tmpdir(), 'conveyor-plugins-'));
    try {
      const pkg = async (name: string, manifest: object, file: string, code: string) => {
        await mkdir(path.join(cwd, 'node_modules', name, 'lib'), { recursive: true });
        await writeFile(path.join(cwd, 'node_modules', name, 'package.json'), JSON.stringify({ name, ...manifest }));
        await writeFile(path.join(cwd, 'node_modules', name, file), code);
      };
      const provider = (type: string) => `{ type: '${type}', description: 'from a package', params: { type: 'object' }, run: async () => ({ ok: true }) }`;
      await pkg('conveyor-plugin-cjs', { main: 'lib/main.js' }, 'lib/main.js', `module.exports = ${provider('cjs.hello')};`);
      await pkg('@acme/conveyor-esm', { type: 'module', exports: { '.': { import: './lib/index.js' } } }, 'lib/index.js', `export default [${provider('esm.hello')}];`);
      const loaded = await loadPlugins(['conveyor-plugin-cjs', '@acme/conveyor-esm'], { cwd });
      expect(loaded.map((p) => p.type)).toEqual(['cjs.hello', 'esm.hello']);
    } finally {
      await rm(cwd, { recursive: true, force: true });
    }
  });

  it('adds plugin providers to the registry, the catalog (their own JSON Schema) and the queues', async () => {
    const registry = await createPluginRegistry([fixture('sample.mjs'), fixture('typed.ts')]);
    expect(registry.get('http.request')).toBeDefined();
    const catalog = providerCatalog(registry);
    const greet = catalog.find((p) => p.type === 'sample.greet')!;
    expect(greet.params).toMatchObject({ type: 'object', required: ['name'], properties: { greeting: { default: 'Hello' } } });
    expect(catalog.find((p) => p.type === 'sample.fetch-json')).toMatchObject({ credential: ['bearer'], queue: 'sample' });
    expect(catalog.find((p) => p.type === 'typed.double')!.params).toMatchObject({ type: 'object', properties: { n: { type: 'number' } } });
    expect(nodeQueueNames(registry)).toContain('sample');
  });

  it('validates JSON Schema params with Ajv: defaults filled in, problems at their pointer', async () => {
    const registry = await createPluginRegistry([fixture('sample.mjs')]);
    const greet = registry.get('sample.greet')!;
    expect(greet.params.safeParse({ name: 'Ada' })).toMatchObject({ success: true, data: { name: 'Ada', greeting: 'Hello' } });
    const node = (params: unknown) => ({ name: 'wf', nodes: [{ id: 'g', type: 'sample.greet', params }], edges: [] });
    const bad = validateWorkflow(node({ name: 7, extra: true }), registry);
    expect(bad.ok).toBe(false);
    if (!bad.ok) {
      expect(bad.problems).toEqual(expect.arrayContaining([
        { pointer: '/nodes/0/params/name', message: 'must be string' },
        { pointer: '/nodes/0/params/extra', message: 'is not allowed here' },
      ]));
    }
    const missing = validateWorkflow(node({}), registry);
    expect(missing.ok || missing.problems).toEqual([{ pointer: '/nodes/0/params/name', message: 'is required' }]);
    // An expression is checked once resolved, not on save.
    expect(validateWorkflow(node({ name: '{{ input.who }}' }), registry).ok).toBe(true);
    expect(validateWorkflow({ ...node({ name: 'x' }), nodes: [{ id: 'g', type: 'sample.nope', params: {} }] }, registry).ok).toBe(false);
  });

  it('names the module and the problem: not found, threw, no default export', async () => {
    const missingFile = await problemsOf(['./plugins/nowhere.mjs']);
    expect(missingFile).toEqual([`plugin './plugins/nowhere.mjs' cannot be found: no file ${path.resolve('plugins/nowhere.mjs')}`]);
    const missingPackage = await problemsOf(['conveyor-plugin-that-does-not-exist']);
    expect(missingPackage[0]).toMatch(/^plugin 'conveyor-plugin-that-does-not-exist' cannot be found: no package/);
    expect(await problemsOf(['plugins/nowhere.mjs'])).toEqual([`plugin 'plugins/nowhere.mjs' cannot be found: no file ${path.resolve('plugins/nowhere.mjs')}, and no package of that name`]);
    // A relative path without ./ works when the file is there.
    expect((await loadPlugins([`${FIXTURES}/sample.mjs`])).length).toBe(2);
    expect(await problemsOf([fixture('throws-on-load.mjs')])).toEqual([`plugin '${fixture('throws-on-load.mjs')}' threw while loading: cannot start: ACME_TOKEN is not set`]);
    expect((await problemsOf([fixture('no-default.mjs')]))[0]).toMatch(/has no default export/);
  });

  it('refuses a wrong shape, listing every problem', async () => {
    const problems = await problemsOf([fixture('wrong-shape.mjs')]);
    const joined = problems.join('\n');
    expect(problems.every((p) => p.startsWith(`plugin '${fixture('wrong-shape.mjs')}'`))).toBe(true);
    expect(joined).toMatch(/unknown field 'credentials'/);
    expect(joined).toMatch(/type must be a lowercase name/);
    expect(joined).toMatch(/description must be a non-empty string/);
    expect(joined).toMatch(/run must be a function/);
    expect(joined).toMatch(/params must be a JSON Schema object or a zod schema/);
  });

  it('refuses a type a built-in or another plugin has, and params that are not a valid JSON Schema', async () => {
    expect(await problemsOf([fixture('clash-builtin.mjs')])).toEqual([`plugin '${fixture('clash-builtin.mjs')}': type 'http.request' is already a built-in provider`]);
    expect(await problemsOf([fixture('sample.mjs'), fixture('clash-sample.mjs')])).toEqual([
      `plugin '${fixture('clash-sample.mjs')}': type 'sample.greet' is already provided by plugin '${fixture('sample.mjs')}'`,
    ]);
    expect((await problemsOf([fixture('bad-schema.mjs')]))[0]).toMatch(/^plugin '.*bad-schema.mjs': params is not a valid JSON Schema: schema is invalid/);
  });
});

describe('a process with a bad plugin', () => {
  const env = {
    DATABASE_URL: 'postgres://127.0.0.1:1/unused',
    ENCRYPTION_KEY: randomBytes(32).toString('base64'),
  };
  const cases = [
    ['worker', fixture('nowhere.mjs'), /plugin '.*nowhere.mjs' cannot be found/],
    ['web', fixture('clash-builtin.mjs'), /type 'http.request' is already a built-in provider/],
    ['scheduler', fixture('throws-on-load.mjs'), /threw while loading: cannot start: ACME_TOKEN is not set/],
  ] as const;

  it.each(cases)('%s stops at start with exit 1, naming the module and the problem', async (kind, plugin, problem) => {
    const proc = startProcess(ENTRIES[kind], { ...env, CONVEYOR_PLUGINS: `${fixture('sample.mjs')},${plugin}` });
    const { code } = await proc.exited;
    expect(code).toBe(1);
    const output = proc.lines.join('\n');
    expect(output).toMatch(/Could not load CONVEYOR_PLUGINS/);
    expect(output).toMatch(problem);
    // Stopped before connecting to anything.
    expect(output).not.toMatch(/ECONNREFUSED|listening|consuming/);
  }, 30_000);
});
