import { z } from 'zod';
import { defineProvider, Suspension } from './types.js';

export default defineProvider({
  type: 'wait.signal',
  description: 'Waits, holding no worker slot, until POST /v1/runs/:id/nodes/:nodeId/signal {payload}; the payload is its output.',
  params: z
    .object({ timeoutMs: z.number().int().min(1).max(366 * 24 * 3600 * 1000).optional().describe('fail with signal_timeout after this long') })
    .strict(),
  async run(ctx) {
    ctx.signal.throwIfAborted();
    const { timeoutMs } = ctx.params;
    const reason = `a signal: POST /v1/runs/${ctx.run.id}/nodes/${ctx.run.nodeId}/signal`;
    if (timeoutMs === undefined) return new Suspension(reason);
    return new Suspension(reason, new Date(Date.now() + timeoutMs), {
      error: { code: 'signal_timeout', message: `no signal within ${timeoutMs} ms` },
    });
  },
});
