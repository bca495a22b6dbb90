// Running from TypeScript source (tests, `tsx`): Node 20 does not apply the parent's `--import tsx`
// to a worker thread, so the sandbox thread registers tsx itself before loading its module.
import { register } from 'tsx/esm/api';

register();
await import('./expression-thread.ts');
