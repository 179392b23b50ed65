/**
 * A Route's `requestSchema`: a JSON Schema (draft 2020-12) the gateway validates JSON request
 * bodies against. Compiled here with the options the gateway uses, so a schema that would fail
 * at the edge fails when the Route is validated instead, with its position.
 *
 * The schema is written by a team and the bodies come from the internet, so both are hostile:
 * - ajv `strict` refuses unknown keywords and formats (a typo must not silently validate nothing);
 * - `pattern` runs on re2js (linear time) instead of backtracking RegExp;
 * - no remote `$ref` is ever loaded (no `loadSchema`): an unresolved reference is an error;
 * - the schema's size is bounded, and so is the generated code.
 */
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { RE2JS } from 're2js';

/** Largest request schema, as JSON text. */
export const MAX_REQUEST_SCHEMA_BYTES = 64 * 1024;

/**
 * ajv's pluggable regular-expression engine, backed by re2js (`u` is RE2's default). ajv keys its
 * compiled patterns by `toString()`: without a distinct one every pattern of a schema (and of the
 * meta-schema) would share the first one compiled.
 */
const re2Engine = Object.assign(
  (pattern: string) => {
    const re = RE2JS.compile(pattern);
    return { test: (s: string) => re.test(s), toString: () => `re2:${pattern}` };
  },
  { code: 're2js' },
);

/** A compiled request schema, or why it does not compile. */
export type CompiledRequestSchema =
  | { ok: true; validate: ValidateFunction }
  | { ok: false; message: string };

/**
 * Compiles a Route's `requestSchema` (each call a fresh ajv instance: schemas of different routes
 * may reuse one `$id`). Never throws on a bad schema.
 */
export function compileRequestSchema(schema: unknown): CompiledRequestSchema {
  if (typeof schema !== 'boolean' && (schema === null || typeof schema !== 'object')) {
    return { ok: false, message: 'a request schema is an object or a boolean' };
  }
  let size: number;
  try {
    size = JSON.stringify(schema).length;
  } catch {
    return { ok: false, message: 'a request schema must be JSON' };
  }
  if (size > MAX_REQUEST_SCHEMA_BYTES) {
    return {
      ok: false,
      message: `request schema is ${size} bytes of JSON, more than ${MAX_REQUEST_SCHEMA_BYTES}`,
    };
  }
  try {
    const ajv = new Ajv2020({
      strict: true,
      allErrors: false,
      code: { regExp: re2Engine },
    });
    return { ok: true, validate: ajv.compile(schema as object | boolean) };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { ok: false, message: `invalid request schema: ${firstLine(message)}` };
  }
}

function firstLine(text: string): string {
  const nl = text.indexOf('\n');
  return (nl === -1 ? text : text.slice(0, nl)).slice(0, 500);
}
