import { z } from 'zod';
import { NAME_PATTERN } from '../workflows/definition.js';
import { defineProvider, Suspension, type Json } from './types.js';

export default defineProvider({
  type: 'workflow.run',
  description: 'Starts a run of another workflow of this workspace and waits for it, holding no worker slot. Output: the child run\'s output.',
  params: z
    .object({
      workflow: z.string().regex(NAME_PATTERN, 'must be a workflow name'),
      version: z.number().int().min(1).optional().describe('default: the latest version'),
      input: z.unknown().optional(),
    })
    .strict(),
  async run(ctx) {
    ctx.signal.throwIfAborted();
    const { workflow, version, input } = ctx.params;
    const child = await ctx.startChildRun({ workflow, version, input: (input ?? null) as Json });
    return new Suspension(`child run ${child.runId} (${workflow})`, undefined, undefined, child.runId);
  },
});
