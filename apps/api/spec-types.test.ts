import { readFile, writeFile } from 'node:fs/promises';
import openapiTS from 'openapi-typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../../test/stack.js';

/**
 * The console is typed from the spec: ui/src/api-types.ts is openapi-typescript's reading of
 * GET /openapi.json. A route whose shapes change without the types following fails here;
 * `UPDATE_SPEC_TYPES=1 npx vitest run apps/api/spec-types.test.ts` writes them anew.
 */
const TYPES = new URL('../../ui/src/api-types.ts', import.meta.url);
const HEADER = '// Generated from GET /openapi.json by openapi-typescript (apps/api/spec-types.test.ts). Do not edit.\n';

describe('the console types', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack({ workers: false });
  });
  afterAll(() => stack?.close());

  it('are what the spec says today', async () => {
    const spec = (await stack.request('GET', '/openapi.json', { key: null })).body;
    const generated = HEADER + (await openapiTS(spec, { exportType: false }));
    if (process.env.UPDATE_SPEC_TYPES) await writeFile(TYPES, generated);
    const committed = await readFile(TYPES, 'utf8').catch(() => '');
    expect(committed === generated, 'ui/src/api-types.ts is stale: run UPDATE_SPEC_TYPES=1 npx vitest run apps/api/spec-types.test.ts').toBe(true);
  });
});
