import { z } from 'zod';
import { permanent } from './errors.js';
import { defineProvider, Suspension } from './types.js';

const MAX_DELAY_MS = 366 * 24 * 3600 * 1000;

export default defineProvider({
  type: 'delay',
  description: 'Waits `ms` milliseconds or `until` an ISO time, holding no worker slot. Output: {until}.',
  params: z
    .object({
      ms: z.number().int().min(0).max(MAX_DELAY_MS).optional(),
      until: z.iso.datetime({ offset: true }).optional().describe('ISO 8601 time with a zone, e.g. 2027-01-01T09:00:00Z'),
    })
    .strict()
    .refine((p) => (p.ms === undefined) !== (p.until === undefined), 'give exactly one of `ms` or `until`'),
  async run(ctx) {
    ctx.signal.throwIfAborted();
    const { ms, until } = ctx.params;
    const at = until !== undefined ? new Date(until) : new Date(Date.now() + ms!);
    if (at.getTime() - Date.now() > MAX_DELAY_MS) throw permanent('invalid_params', `delay until ${at.toISOString()} is more than a year away`);
    const output = { until: at.toISOString() };
    if (at.getTime() <= Date.now()) return output;
    return new Suspension(`delay until ${output.until}`, at, { output });
  },
});
