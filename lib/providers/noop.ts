import { z } from 'zod';
import { defineProvider, type Json } from './types.js';

export default defineProvider({
  type: 'noop',
  description: 'Does nothing; outputs its (resolved) params. Useful as a join point or a placeholder.',
  params: z.record(z.string(), z.unknown()),
  async run(ctx) {
    ctx.signal.throwIfAborted();
    return ctx.params as Json;
  },
});
