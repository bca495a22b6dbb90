import { readFile } from 'node:fs/promises';
import { runCli } from '../lib/cli/main.js';

/** The `conveyor` CLI: reads CONVEYOR_URL and CONVEYOR_API_KEY; see `conveyor --help`. */
process.exitCode = await runCli(process.argv.slice(2), {
  env: process.env,
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  readFile: (path) => readFile(path, 'utf8'),
});
