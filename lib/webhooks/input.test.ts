import { describe, expect, it } from 'vitest';
import { AppError } from '../errors.js';
import { webhookInput } from './input.js';

const request = (body: string, contentType = 'application/json', url = 'https://conveyor.example/hooks/h') => ({
  method: 'POST',
  headers: new Headers({ 'content-type': contentType, authorization: 'Bearer dropped' }),
  url: new URL(url),
  rawBody: new TextEncoder().encode(body),
});
const refusal = (req: ReturnType<typeof request>) => {
  try {
    webhookInput(req);
  } catch (err) {
    if (err instanceof AppError) return { status: err.status, code: err.code, pointer: err.details?.[0]?.pointer, message: err.message };
    throw err;
  }
  throw new Error('accepted');
};

describe('webhookInput', () => {
  it('refuses a body number beyond a double with a 400 pointing under /body', () => {
    expect(refusal(request('{"n": -1e400}'))).toEqual({ status: 400, code: 'number_out_of_range', pointer: '/body/n', message: expect.stringContaining('/body/n') });
    expect(refusal(request('[1e400]'))).toMatchObject({ code: 'number_out_of_range', pointer: '/body/0' });
  });

  it('points at what jsonb refuses in the body or the query', () => {
    expect(refusal(request('{"a": {"b": "\\u0000"}}'))).toMatchObject({ code: 'nul_character', pointer: '/body/a/b' });
    expect(refusal(request('{"\\ud800": 1}'))).toMatchObject({ code: 'invalid_unicode', pointer: '/body/\ud800' });
    expect(refusal(request('', 'text/plain', 'https://conveyor.example/hooks/h?q=%00'))).toMatchObject({ code: 'nul_character', pointer: '/query/q' });
    expect(refusal(request(`${'['.repeat(100)}${']'.repeat(100)}`))).toMatchObject({ code: 'too_deep' });
  });

  it('keeps every finite number as sent and drops the caller’s credentials', () => {
    const input = webhookInput(request('{"big": 1e308, "tiny": 5e-324, "tenth": 0.1}')) as Record<string, any>;
    expect(input.body).toEqual({ big: 1e308, tiny: 5e-324, tenth: 0.1 });
    expect(JSON.stringify(input.body)).toBe('{"big":1e+308,"tiny":5e-324,"tenth":0.1}');
    expect(input.headers).toEqual({ 'content-type': 'application/json' });
  });
});
