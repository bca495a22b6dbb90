import { Ajv, type ErrorObject, type Options } from 'ajv';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { z } from 'zod';
import { declareJsonSchema } from './params-schema.js';
import type { JsonSchema } from './types.js';

// ajv-formats is CommonJS: under NodeNext its default import is the module object.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv) => Ajv;

const OPTIONS: Options = { allErrors: true, useDefaults: true, strict: false };

/** Draft 2020-12 and 2019-09 by their `$schema`; anything else as draft-07 (Ajv's default). */
function ajvFor(schema: JsonSchema): Ajv {
  const dialect = typeof schema.$schema === 'string' ? schema.$schema : '';
  const ajv = dialect.includes('2020-12') ? new Ajv2020(OPTIONS) : dialect.includes('2019-09') ? new Ajv2019(OPTIONS) : new Ajv(OPTIONS);
  return addFormats(ajv as Ajv);
}

/**
 * A plugin's JSON Schema params as the zod schema the engine uses everywhere (static checks on
 * save, validation after expressions resolve): validated by Ajv, defaults filled in on a copy,
 * each problem an issue with the path of the field it is about. Throws when the schema does not
 * compile (the plugin loader reports it).
 */
export function jsonSchemaParams(schema: JsonSchema): z.ZodType {
  const validate = ajvFor(schema).compile(schema);
  const params = z.unknown().transform((value, ctx) => {
    const copy = value === undefined ? undefined : structuredClone(value);
    if (validate(copy)) return copy;
    for (const error of validate.errors ?? []) ctx.addIssue({ code: 'custom', message: messageOf(error), path: pathOf(error) });
    return z.NEVER;
  });
  declareJsonSchema(params, schema);
  return params;
}

function pathOf(error: ErrorObject): (string | number)[] {
  const path = error.instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((p) => (/^\d+$/.test(p) ? Number(p) : p));
  // A missing or extra property is about that property, so a pointer can name it.
  const property = (error.params as { missingProperty?: string; additionalProperty?: string }).missingProperty ?? (error.params as { additionalProperty?: string }).additionalProperty;
  return property === undefined ? path : [...path, property];
}

function messageOf(error: ErrorObject): string {
  if (error.keyword === 'required') return 'is required';
  if (error.keyword === 'additionalProperties') return 'is not allowed here';
  return error.message ?? `fails ${error.keyword}`;
}
