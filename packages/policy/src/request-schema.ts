/**
 * A Route's `requestSchema`: a JSON Schema (draft 2020-12) the gateway validates JSON request
 * bodies against. Compiled here with the options the gateway uses, so a schema that would fail
 * at the edge fails when the Route is validated instead, with its position.
 *
 * The schema is written by a team and the bodies come from the internet, so both are hostile:
 * - ajv `strict` refuses unknown keywords and formats (a typo must not silently validate nothing);
 * - `pattern` runs on re2js (linear time) instead of backtracking RegExp;
 * - no remote `$ref` is ever loaded (no `loadSchema`): an unresolved reference is an error;
 * - the schema's size is bounded, and so is the generated code;
 * - `uniqueItems` (ajv compares object items pairwise: O(n²) on a body) needs a `maxItems` of
 *   at most MAX_UNIQUE_ITEMS beside it, or one body could hold the event loop for seconds;
 * - each distinct schema compiles once (a bounded cache), since ajv compiling costs milliseconds.
 */
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { RE2JS } from 're2js';

/** Largest request schema, as JSON text. */
export const MAX_REQUEST_SCHEMA_BYTES = 64 * 1024;

/** Largest `maxItems` beside `uniqueItems: true` (1,000² comparisons stay in milliseconds). */
export const MAX_UNIQUE_ITEMS = 1000;

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
 * Validates schemas against the draft 2020-12 meta-schema. Compiling the meta-schema costs tens of
 * milliseconds, so one instance does it once; each request schema then compiles in a fresh,
 * cheap instance (schemas of different routes may reuse one `$id`).
 */
let meta: Ajv2020 | undefined;

/**
 * Compiled schemas by their JSON text. Every apply validates the whole stored state, and a PDP
 * recompiles its bundle on every change, so the same schemas come back again and again. Bounded
 * in entries and in key characters; the oldest entry goes first.
 */
const cache = new Map<string, CompiledRequestSchema>();
const CACHE_ENTRIES = 1024;
const CACHE_CHARS = 8 * 1024 * 1024;
let cacheChars = 0;

/**
 * Compiles a Route's `requestSchema`. Never throws on a bad schema; the same schema (by its JSON
 * text) compiles once.
 */
export function compileRequestSchema(schema: unknown): CompiledRequestSchema {
  if (typeof schema !== 'boolean' && (schema === null || typeof schema !== 'object')) {
    return { ok: false, message: 'a request schema is an object or a boolean' };
  }
  let text: string;
  try {
    text = JSON.stringify(schema);
  } catch {
    return { ok: false, message: 'a request schema must be JSON' };
  }
  if (text.length > MAX_REQUEST_SCHEMA_BYTES) {
    return {
      ok: false,
      message: `request schema is ${text.length} bytes of JSON, more than ${MAX_REQUEST_SCHEMA_BYTES}`,
    };
  }
  const hit = cache.get(text);
  if (hit !== undefined) {
    cache.delete(text); // most recently used goes last
    cache.set(text, hit);
    return hit;
  }
  const result = compileFresh(JSON.parse(text) as object | boolean);
  cache.set(text, result);
  cacheChars += text.length;
  for (const [key] of cache) {
    if (cache.size <= CACHE_ENTRIES && cacheChars <= CACHE_CHARS) break;
    cache.delete(key);
    cacheChars -= key.length;
  }
  return result;
}

/** Compiles a private copy (the caller cannot change it afterwards). */
function compileFresh(schema: object | boolean): CompiledRequestSchema {
  try {
    meta ??= new Ajv2020({ strict: true });
    if (!meta.validateSchema(schema)) {
      return {
        ok: false,
        message: `invalid request schema: ${firstLine(meta.errorsText(meta.errors, { dataVar: 'schema' }))}`,
      };
    }
    const unbounded = unboundedUniqueItems(schema, '');
    if (unbounded !== undefined) {
      return {
        ok: false,
        message: `invalid request schema: "uniqueItems" at "${unbounded || '/'}" needs "maxItems" of at most ${MAX_UNIQUE_ITEMS} beside it (checking uniqueness costs the square of the item count)`,
      };
    }
    const ajv = new Ajv2020({
      strict: true,
      allErrors: false,
      validateSchema: false, // done above, against the once-compiled meta-schema
      code: { regExp: re2Engine },
    });
    return { ok: true, validate: ajv.compile(schema) };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { ok: false, message: `invalid request schema: ${firstLine(message)}` };
  }
}

/** The JSON pointer of the first `uniqueItems: true` without a small `maxItems`, if any. */
function unboundedUniqueItems(node: unknown, at: string): string | undefined {
  if (node === null || typeof node !== 'object') return undefined;
  if (!Array.isArray(node)) {
    const o = node as Record<string, unknown>;
    const max = o.maxItems;
    if (o.uniqueItems === true && !(typeof max === 'number' && max <= MAX_UNIQUE_ITEMS)) return at;
  }
  for (const [k, v] of Object.entries(node)) {
    const found = unboundedUniqueItems(v, `${at}/${k}`);
    if (found !== undefined) return found;
  }
  return undefined;
}

function firstLine(text: string): string {
  const nl = text.indexOf('\n');
  return (nl === -1 ? text : text.slice(0, nl)).slice(0, 500);
}
