import { CliError, EXIT } from './client.js';
import { followRun, exitCodeFor } from './follow.js';
import { brief, duration, errorText, table, when } from './format.js';
import type { CommandContext } from './main.js';

const print = (ctx: CommandContext, value: unknown, human: () => string) => ctx.io.out(ctx.json ? JSON.stringify(value, null, 2) : human());

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CliError(`${what} is not valid JSON: ${(err as Error).message}`, EXIT.usage);
  }
}

function intFlag(value: string | boolean | undefined, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new CliError(`--${name} must be a whole number from ${min} to ${max}`, EXIT.usage);
  return n;
}

export async function applyWorkflow(ctx: CommandContext): Promise<number> {
  const file = ctx.values.file as string | undefined;
  if (!file) throw new CliError('workflows apply needs -f <workflow.json>', EXIT.usage);
  const text = await ctx.io.readFile(file).catch((err: Error) => {
    throw new CliError(`cannot read ${file}: ${err.message}`, EXIT.usage);
  });
  const definition = parseJson(text, file) as { name?: unknown };
  if (typeof definition?.name !== 'string') throw new CliError(`${file} needs a "name"`, EXIT.usage);
  const created = await ctx.api.request('POST', '/v1/workflows', { body: definition, ok: [201, 409] });
  const action = created.status === 201 ? 'created' : 'updated';
  const wf = created.status === 201 ? created.body : (await ctx.api.request('PUT', `/v1/workflows/${encodeURIComponent(definition.name)}`, { body: definition })).body;
  print(ctx, { ...wf, action }, () => `${action} workflow ${wf.name} version ${wf.version} (${wf.id})`);
  return EXIT.ok;
}

export async function listWorkflows(ctx: CommandContext): Promise<number> {
  const items: any[] = [];
  let cursor: string | null = null;
  do {
    const page: { body: { items: any[]; nextCursor: string | null } } = await ctx.api.request('GET', `/v1/workflows?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    items.push(...page.body.items);
    cursor = page.body.nextCursor;
  } while (cursor && items.length < 10_000);
  print(ctx, items, () => (items.length ? table(['NAME', 'VERSION', 'UPDATED', 'ID'], items.map((w) => [w.name, w.version, when(w.updatedAt), w.id])) : 'no workflows yet: `conveyor workflows apply -f <file.json>`'));
  return EXIT.ok;
}

export async function startRun(ctx: CommandContext): Promise<number> {
  const [workflow] = ctx.args as [string];
  const { input: inline, 'input-file': inputFile } = ctx.values as Record<string, string | undefined>;
  if (inline !== undefined && inputFile !== undefined) throw new CliError('give --input or --input-file, not both', EXIT.usage);
  const input = inline !== undefined ? parseJson(inline, '--input') : inputFile !== undefined ? parseJson(await ctx.io.readFile(inputFile), inputFile) : undefined;
  const priority = intFlag(ctx.values.priority, 'priority', 1, 10);
  const key = ctx.values['idempotency-key'] as string | undefined;
  const res = await ctx.api.request('POST', `/v1/workflows/${encodeURIComponent(workflow)}/runs`, {
    body: { ...(input === undefined ? {} : { input }), ...(priority ? { priority } : {}) },
    headers: key ? { 'idempotency-key': key } : {},
  });
  return afterStart(ctx, res.body.id as string, res.status === 200 ? 'existing run (same Idempotency-Key)' : 'queued run');
}

async function afterStart(ctx: CommandContext, runId: string, what: string): Promise<number> {
  if (!ctx.values.follow) {
    print(ctx, { id: runId }, () => `${what} ${runId}\nfollow it: conveyor runs show ${runId}`);
    return EXIT.ok;
  }
  if (!ctx.json) ctx.io.out(`${what} ${runId}`);
  const status = await followRun(ctx.api, ctx.io, runId, ctx.json);
  const run = (await ctx.api.request('GET', `/v1/runs/${runId}`)).body;
  ctx.io.out(ctx.json ? JSON.stringify(run) : `\n${renderRun(run)}`);
  return exitCodeFor(status);
}

export async function listRuns(ctx: CommandContext): Promise<number> {
  const q = new URLSearchParams();
  const { workflow, status } = ctx.values as Record<string, string | undefined>;
  if (workflow) q.set('workflow', workflow);
  if (status) q.set('status', status);
  q.set('limit', String(intFlag(ctx.values.limit, 'limit', 1, 100) ?? 20));
  const { body } = await ctx.api.request('GET', `/v1/runs?${q}`);
  print(ctx, body, () =>
    body.items.length
      ? table(['ID', 'WORKFLOW', 'STATUS', 'CREATED', 'DURATION', 'ERROR'], body.items.map((r: any) => [r.id, `${r.workflowName}@${r.version}`, r.status, when(r.createdAt), duration(r.startedAt, r.finishedAt), brief(errorText(r.error), 60)]))
      : 'no runs',
  );
  return EXIT.ok;
}

export function renderRun(run: any): string {
  const head = [
    `run       ${run.id}`,
    `workflow  ${run.workflowName} (version ${run.version})`,
    `status    ${run.status}${run.waitingFor ? ` (waiting for ${run.waitingFor})` : ''}`,
    `trigger   ${run.trigger?.type ?? '-'}${run.retryOf ? `, retry of ${run.retryOf}` : ''}`,
    `created   ${when(run.createdAt)}    duration ${duration(run.startedAt, run.finishedAt)}`,
    ...(run.error ? [`error     ${errorText(run.error)}`] : []),
    ...(run.output !== null && run.output !== undefined ? [`output    ${brief(run.output, 200)}`] : []),
  ];
  const nodes = table(
    ['NODE', 'TYPE', 'STATUS', 'ATTEMPTS', 'DURATION', 'ERROR / WAITING FOR'],
    (run.nodes ?? []).map((n: any) => [n.id, n.type, n.status, n.attempts, duration(n.startedAt, n.finishedAt), brief(n.error ? errorText(n.error) : n.waitingFor, 60)]),
  );
  // The table cuts long errors to fit a line; the whole text follows it.
  const errors = (run.nodes ?? []).filter((n: any) => n.error && n.status === 'failed').map((n: any) => `  ${n.id}: ${errorText(n.error)}`);
  return `${head.join('\n')}\n\n${nodes}${errors.length ? `\n\nerrors:\n${errors.join('\n')}` : ''}`;
}

export async function showRun(ctx: CommandContext): Promise<number> {
  const { body } = await ctx.api.request('GET', `/v1/runs/${encodeURIComponent(ctx.args[0]!)}`);
  print(ctx, body, () => renderRun(body));
  return EXIT.ok;
}

export async function cancelRun(ctx: CommandContext): Promise<number> {
  const { body } = await ctx.api.request('POST', `/v1/runs/${encodeURIComponent(ctx.args[0]!)}/cancel`);
  print(ctx, body, () => `cancelled run ${body.id}`);
  return EXIT.ok;
}

export async function retryRun(ctx: CommandContext): Promise<number> {
  const { body } = await ctx.api.request('POST', `/v1/runs/${encodeURIComponent(ctx.args[0]!)}/retry`);
  return afterStart(ctx, body.id as string, `retry of ${body.retryOf}: run`);
}

export async function createKey(ctx: CommandContext): Promise<number> {
  const role = ctx.values.role as string | undefined;
  if (!role || !['admin', 'editor', 'viewer'].includes(role)) throw new CliError('keys create needs --role admin, editor or viewer', EXIT.usage);
  const name = (ctx.values.name as string | undefined) ?? `cli-${role}-${new Date().toISOString().slice(0, 10)}`;
  const rate = intFlag(ctx.values['rate-limit'], 'rate-limit', 1, 1_000_000);
  const { body } = await ctx.api.request('POST', '/v1/api-keys', { body: { name, role, ...(rate ? { rateLimitPerMinute: rate } : {}) } });
  print(ctx, body, () => `created ${body.role} key ${body.name} (${body.id})\nsecret (shown once): ${body.secret}`);
  return EXIT.ok;
}
