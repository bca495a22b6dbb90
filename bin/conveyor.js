#!/usr/bin/env node
// `npx conveyor` (package.json "bin"): the built CLI when dist/ exists and tsx is not installed
// (a production install), else the TypeScript source through tsx, so a clean checkout needs no build.
import { existsSync } from 'node:fs';

const built = new URL('../dist/bin/conveyor.js', import.meta.url);
const source = new URL('./conveyor.ts', import.meta.url);
let tsx;
try {
  tsx = existsSync(source) ? await import('tsx/esm/api') : undefined;
} catch {
  tsx = undefined;
}
if (tsx) {
  tsx.register();
  await import(source.href);
} else if (existsSync(built)) {
  await import(built.href);
} else {
  process.stderr.write('conveyor: run `npm run build` first (no dist/bin/conveyor.js, and tsx is not installed)\n');
  process.exitCode = 3;
}
