import { z } from 'zod';

/** The workflow format of DESIGN.md. Strict: a misspelt key is an error, not a silently ignored field. */
export const NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;
export const NODE_ID_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
export const CREDENTIAL_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
export const MAX_NODES = 500;
export const MAX_TIMEOUT_MS = 86_400_000;
/** Without a node timeout a hung call would hold a worker slot forever. */
export const DEFAULT_NODE_TIMEOUT_MS = 300_000;
export const MAX_EXPRESSION_LENGTH = 4096;

const retrySchema = z
  .object({
    attempts: z.number().int().min(1, 'must be 1..50').max(50, 'must be 1..50'),
    backoff: z.enum(['fixed', 'exponential']).default('exponential'),
    delayMs: z.number().int().min(0).max(MAX_TIMEOUT_MS).default(1000),
  })
  .strict();

export const nodeSchema = z
  .object({
    id: z.string().regex(NODE_ID_PATTERN, 'must match [A-Za-z_][A-Za-z0-9_]{0,63}'),
    type: z.string().min(1).max(64),
    description: z.string().max(1024).optional(),
    params: z.record(z.string(), z.unknown()).default({}),
    credential: z.string().regex(CREDENTIAL_NAME_PATTERN, 'must be a credential name').optional(),
    when: z.string().min(1).max(MAX_EXPRESSION_LENGTH).optional(),
    retry: retrySchema.optional(),
    timeoutMs: z.number().int().min(1, 'must be 1..86400000').max(MAX_TIMEOUT_MS, 'must be 1..86400000').optional(),
  })
  .strict();

export const edgeSchema = z.object({ from: z.string().min(1).max(64), to: z.string().min(1).max(64) }).strict();

export const definitionSchema = z
  .object({
    name: z.string().regex(NAME_PATTERN, 'must match [a-z0-9][a-z0-9-_]{0,63}'),
    description: z.string().max(4096).optional(),
    concurrency: z.number().int().min(1).max(100_000).optional(),
    timeoutMs: z.number().int().min(1, 'must be 1..86400000').max(MAX_TIMEOUT_MS, 'must be 1..86400000').optional(),
    nodes: z.array(nodeSchema).min(1, 'a workflow needs at least one node').max(MAX_NODES, `at most ${MAX_NODES} nodes`),
    edges: z.array(edgeSchema).max(MAX_NODES * 20).default([]),
    webhook: z
      .object({
        path: z.string().regex(NAME_PATTERN, 'must match [a-z0-9][a-z0-9-_]{0,63}'),
        secret: z.string().regex(CREDENTIAL_NAME_PATTERN, 'must name an hmac credential').optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export type WorkflowDefinition = z.infer<typeof definitionSchema>;
export type NodeDefinition = z.infer<typeof nodeSchema>;
export type RetryPolicy = z.infer<typeof retrySchema>;
