import { z } from 'zod';
import { defineProvider, type Json } from './types.js';

export default defineProvider({
  type: 'transform',
  description: 'Outputs `value` once its expressions are resolved: reshape data between nodes.',
  params: z.object({ value: z.unknown().describe('any JSON; {{ }} expressions inside are resolved first') }).strict(),
  async run(ctx) {
    ctx.signal.throwIfAborted();
    return (ctx.params.value ?? null) as Json;
  },
});
