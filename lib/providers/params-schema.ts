import { z } from 'zod';
import type { JsonSchema } from './types.js';

/**
 * The JSON Schema a params schema was made from: what GET /v1/providers serves for it. Kept
 * apart from the Ajv validator (json-schema-params.ts), which only a process whose plugins
 * declare JSON Schema params loads: Ajv costs every process ~10 MB it would not use.
 */
const declared = new WeakMap<z.ZodType, JsonSchema>();

export function declareJsonSchema(params: z.ZodType, schema: JsonSchema): void {
  declared.set(params, schema);
}

/** The params' JSON Schema: the one a plugin declared, else zod's conversion (what the API accepts). */
export function paramsJsonSchema(params: z.ZodType): JsonSchema {
  const own = declared.get(params);
  if (own) return own;
  try {
    return z.toJSONSchema(params, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  } catch {
    // A schema from another zod major (a plugin's zod 3) validates fine but cannot be converted.
    return {};
  }
}
