import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../config.js';
import { tracesUrl } from './env.js';
import { traceLogMixin, traceNode, traceRunCreation, tracingOn, withTraceContext } from './index.js';

const valid = { DATABASE_URL: 'postgres://u@localhost/db', ENCRYPTION_KEY: randomBytes(32).toString('base64') };

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig({ ...valid, ...env });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('OTEL_* configuration', () => {
  it('is off by default, with the standard defaults', () => {
    const config = loadConfig(valid);
    expect(tracesUrl(config)).toBeUndefined();
    expect(traceLogMixin(config)).toBeUndefined();
    expect(config).toMatchObject({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf', OTEL_TRACES_SAMPLER: 'parentbased_always_on', OTEL_BSP_MAX_QUEUE_SIZE: 2048 });
  });

  it('sends traces to <endpoint>/v1/traces, or to the traces endpoint as it is', () => {
    expect(tracesUrl(loadConfig({ ...valid, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }))).toBe('http://collector:4318/v1/traces');
    expect(tracesUrl(loadConfig({ ...valid, OTEL_EXPORTER_OTLP_ENDPOINT: 'https://api.honeycomb.io' }))).toBe('https://api.honeycomb.io/v1/traces');
    const both = { ...valid, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://b:4318/custom/traces' };
    expect(tracesUrl(loadConfig(both))).toBe('http://b:4318/custom/traces');
    expect(tracesUrl(loadConfig({ ...both, OTEL_SDK_DISABLED: 'true' }))).toBeUndefined();
    expect(tracesUrl(loadConfig({ ...both, OTEL_TRACES_EXPORTER: 'none' }))).toBeUndefined();
    expect(traceLogMixin(loadConfig(both))).toBeTypeOf('function');
  });

  it('parses OTLP headers (URL-encoded values) and names a malformed one without echoing it', () => {
    const config = loadConfig({ ...valid, OTEL_EXPORTER_OTLP_HEADERS: 'x-honeycomb-team=abc%3D123, X-Other = two' });
    expect(config.OTEL_EXPORTER_OTLP_HEADERS).toEqual({ 'x-honeycomb-team': 'abc=123', 'x-other': 'two' });
    const found = problems({ OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'sekret-api-key-without-a-name' });
    expect(found).toEqual([expect.stringMatching(/^OTEL_EXPORTER_OTLP_TRACES_HEADERS: must be comma-separated key=value pairs/)]);
    expect(found.join()).not.toContain('sekret');
  });

  it('names every invalid OTEL_* value at start', () => {
    const found = problems({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'ftp://x',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
      OTEL_TRACES_SAMPLER: 'sometimes',
      OTEL_TRACES_SAMPLER_ARG: '1.5',
      OTEL_BSP_MAX_QUEUE_SIZE: '0',
      OTEL_EXPORTER_OTLP_TIMEOUT: 'soon',
      OTEL_SDK_DISABLED: 'yes',
      OTEL_TRACES_EXPORTER: 'jaeger',
    });
    const named = found.map((p) => p.split(':')[0]);
    expect(named.sort()).toEqual(
      [
        'OTEL_BSP_MAX_QUEUE_SIZE',
        'OTEL_EXPORTER_OTLP_ENDPOINT',
        'OTEL_EXPORTER_OTLP_PROTOCOL',
        'OTEL_EXPORTER_OTLP_TIMEOUT',
        'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
        'OTEL_SDK_DISABLED',
        'OTEL_TRACES_EXPORTER',
        'OTEL_TRACES_SAMPLER',
        'OTEL_TRACES_SAMPLER_ARG',
      ].sort(),
    );
    expect(found.find((p) => p.startsWith('OTEL_EXPORTER_OTLP_PROTOCOL'))).toMatch(/gRPC is not supported.*4318/);
  });
});

describe('tracing off', () => {
  it('passes everything through untouched', async () => {
    expect(tracingOn()).toBe(false);
    const headers = { accept: 'application/json' };
    expect(withTraceContext(headers)).toBe(headers);
    await expect(traceRunCreation({ workflowId: 'w', version: 1, trigger: { type: 'api' } }, async (tp) => ({ run: { id: String(tp), status: 'running' }, created: true }))).resolves.toMatchObject({ run: { id: 'null' } });
    await expect(traceNode(null, { runId: 'r', nodeId: 'n', type: 't', attempt: 1 }, async () => ({ status: 'succeeded' }), () => 'x')).resolves.toEqual({ status: 'succeeded' });
  });

  it('loads no OpenTelemetry module without an endpoint, and the SDK with one', async () => {
    const probe = async (...args: string[]) =>
      JSON.parse((await promisify(execFile)(process.execPath, ['--import', 'tsx', 'test/fixtures/tracing-probe.ts', ...args])).stdout);
    const [off, on] = await Promise.all([probe(), probe('http://127.0.0.1:9')]);
    expect(off).toEqual({ enabled: false, on: false, loaded: 0 });
    expect(on).toMatchObject({ enabled: true, on: true });
    expect(on.loaded).toBeGreaterThan(10);
  });
});
