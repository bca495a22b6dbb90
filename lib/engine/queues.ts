import { CONTROL_QUEUE, DEFAULT_NODE_QUEUE, SCHEDULE_QUEUE } from '../jobs.js';
import { createRegistry, type ProviderRegistry } from '../providers/registry.js';

/** The queue a node of this provider type runs on. */
export function nodeQueueFor(registry: ProviderRegistry, type: string): string {
  return registry.get(type)?.queue ?? DEFAULT_NODE_QUEUE;
}

/** Every node queue: the shared one plus any a provider declares. */
export function nodeQueueNames(registry: ProviderRegistry = createRegistry()): string[] {
  return [...new Set([DEFAULT_NODE_QUEUE, ...registry.list().flatMap((p) => (p.queue ? [p.queue] : []))])];
}

/** Every queue the engine uses, for Bull Board and queue-depth metrics. */
export function allQueueNames(registry?: ProviderRegistry): string[] {
  return [...nodeQueueNames(registry), CONTROL_QUEUE, SCHEDULE_QUEUE];
}
