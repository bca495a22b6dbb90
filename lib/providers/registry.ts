import delay from './delay.js';
import emailSend from './email-send.js';
import httpRequest from './http-request.js';
import { paramsJsonSchema } from './params-schema.js';
import llmChat from './llm-chat.js';
import noop from './noop.js';
import slackMessage from './slack-message.js';
import transform from './transform.js';
import type { Provider } from './types.js';
import waitSignal from './wait-signal.js';
import workflowRun from './workflow-run.js';

/** The provider list: adding a provider is one file and one line here. */
export const BUILT_IN_PROVIDERS: readonly Provider[] = [noop, transform, httpRequest, llmChat, delay, waitSignal, workflowRun, slackMessage, emailSend];

export interface ProviderRegistry {
  get(type: string): Provider | undefined;
  list(): readonly Provider[];
}

export function createRegistry(providers: readonly Provider[] = BUILT_IN_PROVIDERS): ProviderRegistry {
  const byType = new Map(providers.map((p) => [p.type, p]));
  if (byType.size !== providers.length) throw new Error('two providers share a type');
  return { get: (type) => byType.get(type), list: () => providers };
}

/** GET /v1/providers: each provider with its params as JSON Schema (what the API accepts). */
export function providerCatalog(registry: ProviderRegistry) {
  return registry.list().map((p) => ({
    type: p.type,
    description: p.description,
    credential: p.credential ?? [],
    queue: p.queue ?? null,
    params: paramsJsonSchema(p.params),
  }));
}
