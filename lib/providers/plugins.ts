import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { z } from 'zod';
import { CONTROL_QUEUE, SCHEDULE_QUEUE } from '../jobs.js';
import { CREDENTIAL_TYPES } from '../credentials/types.js';
import { BUILT_IN_PROVIDERS, createRegistry, type ProviderRegistry } from './registry.js';
import type { CredentialType, JsonSchema, Provider } from './types.js';

/** Every problem found loading CONVEYOR_PLUGINS, each naming its module. */
export class PluginLoadError extends Error {
  constructor(readonly problems: string[]) {
    super(`Could not load CONVEYOR_PLUGINS:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'PluginLoadError';
  }
}

const FIELDS = new Set(['type', 'description', 'params', 'credential', 'queue', 'run']);
const TYPE = /^[a-z][a-z0-9]*(?:[._-][a-z0-9]+)*$/;
const QUEUE = /^[A-Za-z0-9_-]{1,64}$/;
const RESERVED_QUEUES = new Set([CONTROL_QUEUE, SCHEDULE_QUEUE]);

const EXPLICIT_PATH = /^(\.{1,2}[\\/]|\/|[A-Za-z]:[\\/])/;
const SCRIPT = /\.(m|c)?[jt]s$/;

/** A path starts with `.` or `/`, or names an existing script file; anything else is a package name (chart.js is one). */
const isPath = (spec: string, cwd: string) => EXPLICIT_PATH.test(spec) || (SCRIPT.test(spec) && existsSync(path.resolve(cwd, spec)));

async function importModule(spec: string, cwd: string): Promise<unknown> {
  if (isPath(spec, cwd)) {
    const file = path.resolve(cwd, spec);
    if (!existsSync(file)) throw new Error(`cannot be found: no file ${file}`);
    return import(pathToFileURL(file).href);
  }
  // Packages resolve from the working directory's node_modules, as the user installed them; else
  // from Conveyor's own location (a plugin installed beside Conveyor).
  const resolved = resolvePackage(spec, cwd);
  try {
    return await import(resolved ? pathToFileURL(resolved).href : spec);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (!resolved && (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND')) {
      if (SCRIPT.test(spec)) throw new Error(`cannot be found: no file ${path.resolve(cwd, spec)}, and no package of that name`);
      throw new Error(`cannot be found: no package '${spec}' is installed (npm install ${spec})`);
    }
    throw err;
  }
}

/** A package's entry file as installed under `cwd`: require's resolution, or an ESM-only package's `exports`. */
function resolvePackage(spec: string, cwd: string): string | undefined {
  try {
    return createRequire(path.join(cwd, 'package.json')).resolve(spec);
  } catch {
    // ESM-only (an `exports` without a `require` condition): read the package's own entry point.
  }
  for (let dir = cwd; ; dir = path.dirname(dir)) {
    const root = path.join(dir, 'node_modules', spec);
    if (existsSync(path.join(root, 'package.json'))) {
      const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { exports?: unknown; main?: string };
      const entry = exportTarget(pkg.exports) ?? pkg.main ?? 'index.js';
      return path.join(root, entry);
    }
    if (path.dirname(dir) === dir) return undefined;
  }
}

/** The `.` entry of an `exports` field under the conditions an ES module import meets. */
function exportTarget(exports: unknown): string | undefined {
  if (typeof exports === 'string') return exports;
  if (Array.isArray(exports)) return exports.map(exportTarget).find(Boolean);
  if (!exports || typeof exports !== 'object') return undefined;
  const map = exports as Record<string, unknown>;
  if ('.' in map) return exportTarget(map['.']);
  for (const condition of ['import', 'node', 'default']) if (condition in map) return exportTarget(map[condition]);
  return undefined;
}

/** The problems of one exported provider; none means it is usable as is (after normalise). */
function shapeProblems(p: unknown, where: string): string[] {
  if (p === null || typeof p !== 'object' || Array.isArray(p)) return [`${where} is not a provider object {type, description, params, run}`];
  const o = p as Record<string, unknown>;
  const problems = Object.keys(o).filter((k) => !FIELDS.has(k)).map((k) => `${where} has an unknown field '${k}' (a provider has ${[...FIELDS].join(', ')})`);
  if (typeof o.type !== 'string' || o.type.length > 64 || !TYPE.test(o.type)) problems.push(`${where}: type must be a lowercase name like 'acme.send' (letters, digits, . _ -), not ${JSON.stringify(o.type)}`);
  if (typeof o.description !== 'string' || o.description.trim() === '') problems.push(`${where}: description must be a non-empty string`);
  if (typeof o.run !== 'function') problems.push(`${where}: run must be a function (ctx) => output`);
  const params = o.params as { safeParse?: unknown } | undefined;
  if (params === null || typeof params !== 'object' || Array.isArray(params)) problems.push(`${where}: params must be a JSON Schema object or a zod schema`);
  else if (typeof params.safeParse !== 'function' && (params as JsonSchema).type !== 'object') problems.push(`${where}: params must be a JSON Schema of {"type": "object", ...}: node params are an object`);
  if (o.credential !== undefined) {
    const known = CREDENTIAL_TYPES as readonly string[];
    if (!Array.isArray(o.credential) || o.credential.some((c) => !known.includes(c as string))) {
      problems.push(`${where}: credential must be a list of credential types (${known.join(', ')})`);
    }
  }
  if (o.queue !== undefined && (typeof o.queue !== 'string' || !QUEUE.test(o.queue) || RESERVED_QUEUES.has(o.queue))) {
    problems.push(`${where}: queue must be 1-64 letters, digits, _ or - and not ${[...RESERVED_QUEUES].join(' or ')}`);
  }
  return problems;
}

type JsonSchemaParams = typeof import('./json-schema-params.js').jsonSchemaParams;

/** A valid plugin provider in the engine's shape: JSON Schema params become an Ajv-backed zod schema. */
function normalise(p: Record<string, unknown>, jsonSchemaParams: JsonSchemaParams): Provider {
  const params = typeof (p.params as { safeParse?: unknown }).safeParse === 'function' ? (p.params as z.ZodType) : jsonSchemaParams(p.params as JsonSchema);
  const run = p.run as Provider['run'];
  return {
    type: p.type as string,
    description: p.description as string,
    params,
    ...(p.credential ? { credential: p.credential as CredentialType[] } : {}),
    ...(p.queue ? { queue: p.queue as string } : {}),
    // Called as a method of the plugin's own object, as its author wrote it.
    run: (ctx) => run.call(p, ctx),
  };
}

/**
 * Loads CONVEYOR_PLUGINS: each module's default export is a provider or an array of them. Every
 * problem of every module is collected (not found, threw while loading, wrong shape, a type taken
 * by a built-in or another plugin, params that are not a valid schema) and thrown as one
 * PluginLoadError, so a process stops at start rather than fail nodes later.
 */
export async function loadPlugins(specifiers: readonly string[], opts: { cwd?: string; builtIns?: readonly Provider[] } = {}): Promise<Provider[]> {
  const cwd = opts.cwd ?? process.cwd();
  const owners = new Map<string, string>((opts.builtIns ?? BUILT_IN_PROVIDERS).map((p) => [p.type, 'a built-in provider']));
  const problems: string[] = [];
  const loaded: Provider[] = [];
  // Ajv only for a process that has plugins (JSON Schema params need it): ~10 MB otherwise spent for nothing.
  const { jsonSchemaParams } = specifiers.length > 0 ? await import('./json-schema-params.js') : { jsonSchemaParams: undefined };
  for (const spec of specifiers) {
    let mod: unknown;
    try {
      mod = await importModule(spec, cwd);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      problems.push(message.startsWith('cannot be found') ? `plugin '${spec}' ${message}` : `plugin '${spec}' threw while loading: ${message}`);
      continue;
    }
    const exported = (mod as { default?: unknown }).default;
    if (exported === undefined) {
      problems.push(`plugin '${spec}' has no default export: export default a provider or an array of providers`);
      continue;
    }
    const list = Array.isArray(exported) ? exported : [exported];
    if (list.length === 0) problems.push(`plugin '${spec}' exports an empty array: no provider to add`);
    list.forEach((p, i) => {
      const where = `plugin '${spec}'${Array.isArray(exported) ? ` provider [${i}]` : ''}`;
      const own = shapeProblems(p, where);
      if (own.length) return problems.push(...own);
      const o = p as Record<string, unknown>;
      const owner = owners.get(o.type as string);
      if (owner) return problems.push(`${where}: type '${String(o.type)}' is already ${owner}`);
      try {
        loaded.push(normalise(o, jsonSchemaParams!));
        owners.set(o.type as string, `provided by plugin '${spec}'`);
      } catch (err) {
        problems.push(`${where}: params is not a valid JSON Schema: ${(err as Error).message}`);
      }
    });
  }
  if (problems.length) throw new PluginLoadError(problems);
  return loaded;
}

/** The registry of a process: built-ins plus CONVEYOR_PLUGINS. */
export async function createPluginRegistry(specifiers: readonly string[], opts: { cwd?: string } = {}): Promise<ProviderRegistry> {
  const plugins = await loadPlugins(specifiers, { ...opts, builtIns: BUILT_IN_PROVIDERS });
  return createRegistry([...BUILT_IN_PROVIDERS, ...plugins]);
}

/** For process entry points: the registry, or every plugin problem on stderr and exit 1. */
export async function loadRegistryOrExit(specifiers: readonly string[]): Promise<ProviderRegistry> {
  try {
    return await createPluginRegistry(specifiers);
  } catch (err) {
    if (!(err instanceof PluginLoadError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
}
