import { getConnInfo } from '@hono/node-server/conninfo';
import { OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { findWorkflowByWebhookPath } from '../../../db/webhooks.js';
import { SIGNATURE_HEADER, verifySignature } from '../../../lib/auth/webhook-signature.js';
import { credentialResolver } from '../../../lib/credentials/resolver.js';
import { createKeyring } from '../../../lib/crypto.js';
import { startRun } from '../../../lib/engine/start-run.js';
import { AppError, notFound, tooLarge } from '../../../lib/errors.js';
import { webhookInput } from '../../../lib/webhooks/input.js';
import { checkWebhookRate, clientKey, failedSignatureLimiter } from '../../../lib/webhooks/rate-limit.js';
import { waitForRunEnd } from '../../../lib/webhooks/wait.js';
import { NAME_PATTERN } from '../../../lib/workflows/definition.js';
import type { ApiDeps, ApiEnv } from '../context.js';
import { defineRoute } from '../route.js';

const json = (description: string) => ({ description, content: { 'application/json': { schema: z.looseObject({}) } } });

const hook = defineRoute('public', {
  method: 'post',
  path: '/hooks/{path}',
  tags: ['webhooks'],
  summary: "Trigger a workflow's webhook: the run's input is {method, headers, query, body}",
  request: {
    params: z.object({ path: z.string().max(200).openapi({ description: "the workflow's webhook.path" }) }),
    query: z.object({ wait: z.enum(['true', 'false']).optional().openapi({ description: 'answer once the run ends (within WEBHOOK_WAIT_MS)' }) }),
    headers: z.object({
      'idempotency-key': z.string().min(1).max(255).optional(),
      'x-signature': z.string().max(200).optional().openapi({ description: 'sha256=<hex HMAC-SHA256 of the raw body>, required when the webhook has a secret' }),
    }),
  },
  responses: {
    202: json('{runId}: the run is queued (or did not end within the wait)'),
    200: json('{runId,status,output}: the run ended within the wait; or {runId} of the run an earlier request with this Idempotency-Key made'),
    401: json('signature missing or wrong'),
    404: json('no webhook at this path'),
    413: json('body too large'),
    429: json("rate limited (Retry-After): valid deliveries past the path's limit, or too many bad signatures from one address"),
  },
});

/**
 * The TCP peer's address, or undefined without a socket (`app.request` in tests). X-Forwarded-For
 * is not read: anyone can send it, and a forged one would let a flood pose as the real sender.
 */
function peerAddress(c: Context): string | undefined {
  try {
    return getConnInfo(c).remote.address;
  } catch {
    return undefined;
  }
}

const badSignature = () =>
  new AppError(401, 'invalid_signature', `This webhook is signed: send \`X-Signature: sha256=<hex HMAC-SHA256 of the raw body>\` keyed with its hmac secret.`);

export function hookRoutes({ db, engine, config }: ApiDeps) {
  const app = new OpenAPIHono<ApiEnv>();
  const credentials = credentialResolver(db, createKeyring(config.ENCRYPTION_KEYS));
  const limitMessage = `Webhook bodies are limited to ${config.MAX_RUN_INPUT_BYTES} bytes (MAX_RUN_INPUT_BYTES).`;
  const recordFailure = failedSignatureLimiter(db, config.WEBHOOK_FAILED_ATTEMPTS_PER_MINUTE);

  app.openapi(hook, async (c) => {
    const { path } = c.req.valid('param');
    const unknown = () => notFound(`webhook '${path.slice(0, 64)}'`);
    if (!NAME_PATTERN.test(path)) throw unknown();
    const wf = await findWorkflowByWebhookPath(db, path);
    if (!wf) throw unknown();
    if (Number(c.req.header('content-length') ?? 0) > config.MAX_RUN_INPUT_BYTES) throw tooLarge(limitMessage);

    // The path's budget is spent only by authenticated deliveries: were it counted first, anyone
    // could use it up with bad signatures and lock the real sender out. Unsigned, every request is
    // a delivery, so it counts before the body is read, as a flood's cheapest refusal.
    const secretName = (wf.definition.webhook as { secret?: string } | undefined)?.secret;
    let secret: string | undefined;
    if (secretName) {
      const credential = await credentials(wf.workspace_id, secretName);
      secret = credential?.type === 'hmac' && typeof credential.data.secret === 'string' ? credential.data.secret : undefined;
      if (!secret) {
        // Fail closed: a signed webhook whose secret is gone accepts nothing.
        c.get('log').warn({ workflowId: wf.id, credential: secretName }, 'webhook secret names no hmac credential: refusing every request until it exists');
        throw badSignature();
      }
    } else {
      await checkWebhookRate(db, path, config.WEBHOOK_RATE_LIMIT_PER_MINUTE);
    }

    const raw = new Uint8Array(await c.req.arrayBuffer());
    if (raw.byteLength > config.MAX_RUN_INPUT_BYTES) throw tooLarge(limitMessage);
    if (secret) {
      // Verified before any failure budget is consulted, so a valid signature is never refused
      // by it, even from an address (a shared proxy's) that a flood of bad ones has exhausted.
      if (!verifySignature(c.req.header(SIGNATURE_HEADER), raw, secret)) {
        throw (await recordFailure(path, clientKey(peerAddress(c)), c.get('log'))) ?? badSignature();
      }
      await checkWebhookRate(db, path, config.WEBHOOK_RATE_LIMIT_PER_MINUTE);
    }

    const input = webhookInput({ method: c.req.method, headers: c.req.raw.headers, url: new URL(c.req.url), rawBody: raw });
    if (Buffer.byteLength(JSON.stringify(input)) > config.MAX_RUN_INPUT_BYTES) throw tooLarge(limitMessage);
    const { run, created } = await startRun(engine, {
      workspaceId: wf.workspace_id,
      workflowId: wf.id,
      version: wf.latest_version,
      input,
      trigger: { type: 'webhook', path },
      idempotencyKey: c.req.valid('header')['idempotency-key'],
      requireActive: true,
    });
    if (c.req.valid('query').wait === 'true' && config.WEBHOOK_WAIT_MS > 0) {
      const ended = await waitForRunEnd(db, run.id, { timeoutMs: config.WEBHOOK_WAIT_MS, signal: c.req.raw.signal });
      if (ended) return c.json({ runId: run.id, status: ended.status, output: ended.output, ...(ended.error ? { error: ended.error } : {}) }, 200);
    }
    return c.json({ runId: run.id }, created ? 202 : 200);
  });

  return app;
}
