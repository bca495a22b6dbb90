// A Conveyor provider plugin: a plain ES module, no import from Conveyor needed.
// Load it with CONVEYOR_PLUGINS=./examples/plugins/open-meteo.mjs (web, worker and scheduler).

export default {
  type: 'weather.current',
  description: 'Current temperature at a place, from Open-Meteo. Output: {temperature, unit, time}.',
  // JSON Schema (validated with Ajv; defaults are filled in). A zod schema works too.
  params: {
    type: 'object',
    properties: {
      latitude: { type: 'number', minimum: -90, maximum: 90 },
      longitude: { type: 'number', minimum: -180, maximum: 180 },
      baseUrl: { type: 'string', default: 'https://api.open-meteo.com/v1' },
    },
    required: ['latitude', 'longitude'],
    additionalProperties: false,
  },
  // Nodes of this type wait on their own queue: WORKER_QUEUES=weather dedicates workers to it.
  queue: 'weather',
  async run(ctx) {
    const { latitude, longitude, baseUrl } = ctx.params;
    const url = new URL(`${baseUrl.replace(/\/+$/, '')}/forecast`);
    url.search = new URLSearchParams({ latitude, longitude, current: 'temperature_2m' }).toString();
    // ctx.fetch is fetch behind the SSRF guard, aborted with the node (timeout, cancel).
    const res = await ctx.fetch(url);
    if (!res.ok) {
      // code and retryable are the engine's whole error vocabulary: 4xx will fail again, 5xx may not.
      throw Object.assign(new Error(`Open-Meteo answered ${res.status}`), { code: 'weather_status', retryable: res.status >= 500 || res.status === 429 });
    }
    const body = await res.json();
    ctx.log.debug({ latitude, longitude }, 'weather fetched'); // log ids and places, never secrets
    return { temperature: body.current.temperature_2m, unit: body.current_units.temperature_2m, time: body.current.time };
  },
};
