/**
 * The example workflow `npm start` seeds into an empty workspace: a fan-out, a condition and an
 * http.request to Conveyor's own /healthz (the dev launcher opens localhost in HTTP_ALLOW_HOSTS).
 */
export const DEMO_WORKFLOW = 'demo';

export function demoDefinition(baseUrl: string) {
  return {
    name: DEMO_WORKFLOW,
    description: "Seeded by npm start: a fan-out, a condition, and an http.request to Conveyor's own /healthz.",
    nodes: [
      { id: 'start', type: 'transform', params: { value: { name: "{{ input.name ? input.name : 'world' }}", items: [1, 2, 3] } } },
      // Three branches run in parallel from start.
      { id: 'greet', type: 'transform', params: { value: "{{ 'Hello, ' & nodes.start.output.name & '!' }}" } },
      { id: 'count', type: 'transform', params: { value: '{{ $count(nodes.start.output.items) }}' } },
      {
        id: 'health',
        type: 'http.request',
        params: { method: 'GET', url: `${baseUrl.replace(/\/+$/, '')}/healthz` },
        retry: { attempts: 3, backoff: 'exponential', delayMs: 200 },
        timeoutMs: 5000,
      },
      // A condition: runs only when /healthz said ok, else it is skipped.
      { id: 'healthy', type: 'transform', when: "{{ nodes.health.output.body.status = 'ok' }}", params: { value: 'Conveyor answered ok' } },
      {
        id: 'report',
        type: 'transform',
        params: { value: { greeting: '{{ nodes.greet.output }}', items: '{{ nodes.count.output }}', health: '{{ nodes.healthy.status }}' } },
      },
    ],
    edges: [
      { from: 'start', to: 'greet' },
      { from: 'start', to: 'count' },
      { from: 'start', to: 'health' },
      { from: 'health', to: 'healthy' },
      { from: 'greet', to: 'report' },
      { from: 'count', to: 'report' },
      { from: 'healthy', to: 'report' },
    ],
  };
}

/** Creates the demo workflow through the API when the workspace has no workflow at all; true when it did. */
export async function seedDemo(baseUrl: string, apiKey: string): Promise<boolean> {
  const headers = { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' };
  const list = await fetch(`${baseUrl}/v1/workflows?limit=1`, { headers, signal: AbortSignal.timeout(10_000) });
  if (!list.ok) throw new Error(`GET /v1/workflows: ${list.status} ${await list.text()}`);
  if (((await list.json()) as { items: unknown[] }).items.length > 0) return false;
  const created = await fetch(`${baseUrl}/v1/workflows`, { method: 'POST', headers, body: JSON.stringify(demoDefinition(baseUrl)), signal: AbortSignal.timeout(10_000) });
  // 409: another launcher seeded it a moment ago.
  if (created.status === 409) return false;
  if (created.status !== 201) throw new Error(`POST /v1/workflows: ${created.status} ${await created.text()}`);
  return true;
}
