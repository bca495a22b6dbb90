import { CliError, EXIT } from './client.js';
import { table } from './format.js';
import type { CommandContext } from './main.js';

/** `conveyor import n8n <file.json> [--name N] [--dry-run] [--allow-partial] [--workflow-map '{...}']` */
export async function importN8n(ctx: CommandContext): Promise<number> {
  const [file] = ctx.args as [string];
  const text = await ctx.io.readFile(file).catch((err: Error) => {
    throw new CliError(`cannot read ${file}: ${err.message}`, EXIT.usage);
  });
  let workflow: unknown;
  try {
    workflow = JSON.parse(text);
  } catch (err) {
    throw new CliError(`${file} is not valid JSON: ${(err as Error).message}`, EXIT.usage);
  }
  let workflowMap: unknown;
  if (typeof ctx.values['workflow-map'] === 'string') {
    try {
      workflowMap = JSON.parse(ctx.values['workflow-map']);
    } catch (err) {
      throw new CliError(`--workflow-map is not valid JSON: ${(err as Error).message}`, EXIT.usage);
    }
  }
  const body = {
    format: 'n8n',
    workflow,
    ...(typeof ctx.values.name === 'string' ? { name: ctx.values.name } : {}),
    dryRun: ctx.values['dry-run'] === true,
    allowPartial: ctx.values['allow-partial'] === true,
    ...(workflowMap === undefined ? {} : { workflowMap }),
  };
  const res = await ctx.api.request('POST', '/v1/workflows/import', { body });
  if (ctx.json) {
    ctx.io.out(JSON.stringify(res.body, null, 2));
    return EXIT.ok;
  }
  const { workflow: wf, definition, report } = res.body;
  const head = body.dryRun
    ? `dry run: workflow ${definition.name} would have ${definition.nodes.length} node(s); nothing was created`
    : `${res.status === 201 ? 'created' : 'updated'} workflow ${wf.name} version ${wf.version} (${wf.id})`;
  ctx.io.out(`${head}\n\n${renderReport(report)}`);
  return EXIT.ok;
}

/** The import report for people: what each n8n node became, what to create, what was left behind. */
export function renderReport(report: any): string {
  const sections = [
    table(['N8N NODE', 'N8N TYPE', 'OUTCOME', 'CONVEYOR', 'NOTE'], report.nodes.map((n: any) => [n.n8nName, n.n8nType.replace(/^n8n-nodes-base\./, ''), n.outcome, n.nodeId ? `${n.nodeId} (${n.type ?? '-'})` : '', n.reason ?? ''])),
  ];
  if (report.webhook) sections.push(`webhook: POST /hooks/${report.webhook.path} (from '${report.webhook.n8nNode}'; HMAC: give it a secret yourself)`);
  if (report.schedules.length) sections.push(`schedules:\n${report.schedules.map((s: any) => `  ${s.cron}  ${s.timezone}  (from '${s.n8nNode}')`).join('\n')}`);
  if (report.credentials.length) {
    sections.push(`credentials to create (never imported):\n${table(['NAME', 'TYPE', 'N8N CREDENTIAL', 'USED BY'], report.credentials.map((c: any) => [c.conveyorName, c.conveyorType ?? '(none: see warnings)', `${c.n8nName} (${c.n8nType})`, c.usedBy.join(', ')])).replace(/^/gm, '  ')}`);
  }
  if (report.untranslatable?.length) sections.push(`untranslatable expressions:\n${report.untranslatable.map((u: any) => `  - ${u.n8nNode} / ${u.parameter}: ${JSON.stringify(u.text)}: ${u.reason}`).join('\n')}`);
  if (report.warnings.length) sections.push(`warnings:\n${report.warnings.map((w: string) => `  - ${w}`).join('\n')}`);
  return sections.join('\n\n');
}
