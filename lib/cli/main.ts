import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CliError, EXIT, createClient, type ApiClient } from './client.js';
import { applyWorkflow, cancelRun, createKey, listRuns, listWorkflows, retryRun, showRun, startRun } from './commands.js';
import { importN8n } from './import.js';

/** What a command may touch: injected, so tests run the CLI in-process against a real server. */
export interface CliIo {
  env: Record<string, string | undefined>;
  out(text: string): void;
  err(text: string): void;
  readFile(path: string): Promise<string>;
}

export interface CommandContext {
  api: ApiClient;
  io: CliIo;
  json: boolean;
  args: string[];
  values: Record<string, string | boolean | undefined>;
}

type Options = NonNullable<ParseArgsConfig['options']>;

interface Command {
  usage: string;
  summary: string;
  args: number;
  options?: Options;
  help?: string;
  run(ctx: CommandContext): Promise<number>;
}

const GLOBAL: Options = {
  url: { type: 'string' },
  key: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

const COMMANDS: Record<string, Command> = {
  'workflows apply': {
    usage: 'workflows apply -f <workflow.json>',
    summary: 'create a workflow, or add a new version when one of that name exists',
    args: 0,
    options: { file: { type: 'string', short: 'f' } },
    run: applyWorkflow,
  },
  'workflows list': { usage: 'workflows list', summary: "list the workspace's workflows", args: 0, run: listWorkflows },
  'import n8n': {
    usage: "import n8n <file.json> [--name <name>] [--dry-run] [--allow-partial] [--workflow-map '{\"<n8n id>\":\"<name>\"}']",
    summary: 'convert an n8n workflow export and create the workflow (or a new version); prints what each node became',
    args: 1,
    options: { name: { type: 'string' }, 'dry-run': { type: 'boolean' }, 'allow-partial': { type: 'boolean' }, 'workflow-map': { type: 'string' } },
    help: 'Unconvertible nodes refuse the import (each listed) unless --allow-partial puts a placeholder noop in their place. Credentials are never imported: create the ones the report lists.',
    run: importN8n,
  },
  run: {
    usage: "run <workflow> [--input '{...}' | --input-file <file>] [--follow] [--priority 1-10] [--idempotency-key <k>]",
    summary: 'start a run; --follow shows each node as it changes and exits with the run status',
    args: 1,
    options: { input: { type: 'string' }, 'input-file': { type: 'string' }, follow: { type: 'boolean', short: 'F' }, priority: { type: 'string' }, 'idempotency-key': { type: 'string' } },
    help: 'Exit codes with --follow: 0 succeeded, 1 failed, 2 cancelled; 3 the API could not be reached or refused.',
    run: startRun,
  },
  'runs list': {
    usage: 'runs list [--workflow <name>] [--status queued|running|succeeded|failed|cancelled] [--limit N]',
    summary: 'list runs, newest first',
    args: 0,
    options: { workflow: { type: 'string' }, status: { type: 'string' }, limit: { type: 'string' } },
    run: listRuns,
  },
  'runs show': { usage: 'runs show <run-id>', summary: 'a run and a table of its nodes: status, attempts, durations, errors', args: 1, run: showRun },
  'runs cancel': { usage: 'runs cancel <run-id>', summary: 'cancel a queued or running run', args: 1, run: cancelRun },
  'runs retry': {
    usage: 'runs retry <run-id> [--follow]',
    summary: 'rerun a failed or cancelled run, reusing its succeeded nodes',
    args: 1,
    options: { follow: { type: 'boolean', short: 'F' } },
    run: retryRun,
  },
  'keys create': {
    usage: 'keys create --role admin|editor|viewer [--name <name>] [--rate-limit <per minute>]',
    summary: 'create an API key (admin only); the secret is shown once',
    args: 0,
    options: { role: { type: 'string' }, name: { type: 'string' }, 'rate-limit': { type: 'string' } },
    run: createKey,
  },
};

const GLOBAL_HELP = `Global options:
  --url <url>    Conveyor's base URL (default: $CONVEYOR_URL)
  --key <key>    API key (default: $CONVEYOR_API_KEY)
  --json         machine-readable output (one JSON document; NDJSON events with --follow)
  -h, --help     help for any command`;

function usage(): string {
  const width = Math.max(...Object.values(COMMANDS).map((c) => c.usage.split(' [')[0]!.length));
  const lines = Object.values(COMMANDS).map((c) => `  conveyor ${c.usage.split(' [')[0]!.padEnd(width)}  ${c.summary}`);
  return `conveyor: drive a Conveyor server from the shell.\n\nCommands:\n${lines.join('\n')}\n\n${GLOBAL_HELP}\n\nExit codes: 0 ok (run succeeded), 1 run failed, 2 run cancelled, 3 API error, 64 bad usage.\nRun \`conveyor <command> --help\` for a command's options.`;
}

function commandHelp(name: string, c: Command): string {
  const opts = Object.entries(c.options ?? {}).map(([k, o]) => `  --${k}${o.short ? `, -${o.short}` : ''}${o.type === 'string' ? ' <value>' : ''}`);
  return `conveyor ${c.usage}\n\n${c.summary}.${c.help ? `\n${c.help}` : ''}${opts.length ? `\n\nOptions:\n${opts.join('\n')}` : ''}\n\n${GLOBAL_HELP}`;
}

/** Parses argv, runs one command, returns the exit code; never throws. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  try {
    const loose = parseArgs({ args: argv, options: GLOBAL, strict: false, allowPositionals: true });
    const words = loose.positionals;
    const name = words[0] === 'run' || words[0] === 'help' ? words[0] : words.slice(0, 2).join(' ');
    if (words.length === 0 || name === 'help') {
      const topic = words[0] === 'help' ? words.slice(1).join(' ') : '';
      if (topic && COMMANDS[topic]) io.out(commandHelp(topic, COMMANDS[topic]!));
      else io.out(usage());
      return words.length === 0 && !loose.values.help ? EXIT.usage : EXIT.ok;
    }
    const command = COMMANDS[name];
    if (!command) {
      const group = Object.keys(COMMANDS).filter((k) => k.startsWith(`${words[0]} `));
      if (group.length && (words.length === 1 || loose.values.help)) {
        io.out(group.map((k) => `conveyor ${COMMANDS[k]!.usage}\n    ${COMMANDS[k]!.summary}`).join('\n'));
        return words.length === 1 && !loose.values.help ? EXIT.usage : EXIT.ok;
      }
      throw new CliError(`unknown command "${words.join(' ')}". Run \`conveyor --help\`.`, EXIT.usage);
    }
    if (loose.values.help) {
      io.out(commandHelp(name, command));
      return EXIT.ok;
    }
    let parsed;
    try {
      parsed = parseArgs({ args: argv, options: { ...GLOBAL, ...command.options }, strict: true, allowPositionals: true });
    } catch (err) {
      throw new CliError(`${(err as Error).message}\nusage: conveyor ${command.usage}`, EXIT.usage);
    }
    const args = parsed.positionals.slice(name.split(' ').length);
    if (args.length !== command.args) {
      throw new CliError(`expected ${command.args} argument${command.args === 1 ? '' : 's'}, got ${args.length}\nusage: conveyor ${command.usage}`, EXIT.usage);
    }
    const values = parsed.values as Record<string, string | boolean | undefined>;
    const api = createClient((values.url as string | undefined) ?? io.env.CONVEYOR_URL, (values.key as string | undefined) ?? io.env.CONVEYOR_API_KEY);
    return await command.run({ api, io, json: values.json === true, args, values });
  } catch (err) {
    if (err instanceof CliError) {
      io.err(`conveyor: ${err.message}`);
      return err.exitCode;
    }
    io.err(`conveyor: unexpected error: ${(err as Error).stack ?? err}`);
    return EXIT.error;
  }
}
