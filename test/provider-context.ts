import { pino } from 'pino';
import { redactionValues } from '../lib/credentials/secrets.js';
import { guardedFetch } from '../lib/http/guarded-fetch.js';
import type { Provider, ProviderContext, ProviderSettings } from '../lib/providers/types.js';

export interface CallOptions {
  credential?: ProviderContext<unknown>['credential'];
  signal?: AbortSignal;
  settings?: Partial<ProviderSettings>;
  startChildRun?: ProviderContext<unknown>['startChildRun'];
}

/**
 * Calls a provider's `run` the way the engine does once expressions are resolved: params parsed
 * through its schema, a silent logger, an AbortSignal and process settings. Nothing is mocked:
 * the provider talks to whatever real server the test started.
 */
export function callProvider(provider: Provider, rawParams: unknown, opts: CallOptions = {}) {
  const params = provider.params.parse(rawParams);
  const signal = opts.signal ?? new AbortController().signal;
  const settings = { httpAllowHosts: [], maxResponseBytes: 1024 * 1024, ...opts.settings };
  return provider.run({
    params,
    credential: opts.credential,
    signal,
    log: pino({ level: 'silent' }),
    idempotencyKey: 'run-1:node-1',
    run: { id: 'run-1', workflowId: 'wf-1', workspaceId: 'ws-1', nodeId: 'node-1', attempt: 1 },
    settings,
    startChildRun: opts.startChildRun ?? (async () => {
      throw new Error('this test gives the provider no engine to start child runs');
    }),
    fetch: guardedFetch({ allowHosts: settings.httpAllowHosts, maxResponseBytes: settings.maxResponseBytes, signal, secrets: opts.credential ? redactionValues(opts.credential) : [] }),
  });
}

/** The error a promise rejects with; fails the test when it resolves. */
export async function rejection(p: Promise<unknown>): Promise<Error & { code?: string }> {
  const outcome = await p.then((v) => ({ resolved: v }), (err: unknown) => ({ err }));
  if (!('err' in outcome)) throw new Error(`expected a rejection, got ${JSON.stringify(outcome.resolved)}`);
  return outcome.err as Error & { code?: string };
}
