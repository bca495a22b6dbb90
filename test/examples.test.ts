import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPluginRegistry } from '../lib/providers/plugins.js';
import { validateWorkflow } from '../lib/workflows/validate.js';
import { callProvider, rejection } from './provider-context.js';
import { startTargetServer, type TargetServer } from './target-server.js';

const DIR = 'examples';
const plugins = (await readdir(path.join(DIR, 'plugins'))).filter((f) => f.endsWith('.mjs')).map((f) => `./${DIR}/plugins/${f}`);
const registry = await createPluginRegistry(plugins);
const workflows = (await readdir(DIR)).filter((f) => f.endsWith('.json'));

describe('examples/', () => {
  it('holds the workflows the README points to', () => {
    expect(workflows).toEqual(expect.arrayContaining(['slack-alert-on-failed-check.json', 'llm-summary-by-email.json', 'notion-create-page.json', 'stripe-new-customer.json', 'weather-report.json']));
  });

  it('the README shows the example plugin as it is in examples/plugins/open-meteo.mjs', async () => {
    const readme = await readFile('README.md', 'utf8');
    const shown = /## Writing a provider[\s\S]*?```js\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(shown).toBe(await readFile(path.join(DIR, 'plugins', 'open-meteo.mjs'), 'utf8'));
  });

  it.each(workflows)('%s is a valid workflow definition (with the example plugin loaded)', async (file) => {
    const definition = JSON.parse(await readFile(path.join(DIR, file), 'utf8'));
    const result = validateWorkflow(definition, registry);
    expect(result.ok ? [] : result.problems).toEqual([]);
  });
});

describe('the example plugin (README, "Writing a provider")', () => {
  let meteo: TargetServer;
  beforeAll(async () => {
    meteo = await startTargetServer();
    meteo.route('GET', '/v1/forecast', (req, res) => {
      const q = new URL(req.url ?? '/', 'http://x').searchParams;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ current: { time: '2026-12-07T12:00', temperature_2m: 4.5 }, current_units: { temperature_2m: '°C' }, echo: Object.fromEntries(q) }));
    });
  });
  afterAll(() => meteo.close());

  it('runs against a local Open-Meteo through ctx.fetch', async () => {
    const provider = registry.get('weather.current')!;
    const settings = { httpAllowHosts: ['127.0.0.1'] };
    const out = await callProvider(provider, { latitude: 52.52, longitude: 13.41, baseUrl: `${meteo.url}/v1` }, { settings });
    expect(out).toEqual({ temperature: 4.5, unit: '°C', time: '2026-12-07T12:00' });
    expect(meteo.requests[0]!.path).toBe('/v1/forecast?latitude=52.52&longitude=13.41&current=temperature_2m');
    const err = await rejection(callProvider(provider, { latitude: 1, longitude: 1, baseUrl: `${meteo.url}/v1` }, { settings: { httpAllowHosts: [] } }));
    expect(err.code).toBe('ssrf_blocked');
    expect(provider.params.safeParse({ latitude: 91, longitude: 0 }).success).toBe(false);
    expect(provider.queue).toBe('weather');
  });
});
