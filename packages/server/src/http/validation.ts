/**
 * Ajv for request validation. Fastify's default coerces types everywhere and strips unknown
 * properties; for bodies we want neither (a string where a number belongs, or a misspelt field,
 * must be an error naming the field), while query strings and path params arrive as text and
 * need coercion. So: two Ajv instances, chosen by the part of the request.
 */
import { Ajv } from 'ajv';
import type { FastifySchemaCompiler } from 'fastify';

const strict = new Ajv({
  allErrors: true,
  coerceTypes: false,
  useDefaults: true,
  removeAdditional: false,
  strict: false,
});
const coercing = new Ajv({
  allErrors: true,
  coerceTypes: true,
  useDefaults: true,
  removeAdditional: false,
  strict: false,
});

export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) => {
  const ajv = httpPart === 'body' ? strict : coercing;
  return ajv.compile(schema as object) as ReturnType<FastifySchemaCompiler<unknown>>;
};

/** Makes `$ref`-able shared schemas known to both validators. */
export function addSharedSchemas(schemas: readonly { $id: string }[]): void {
  for (const s of schemas) {
    for (const ajv of [strict, coercing]) if (!ajv.getSchema(s.$id)) ajv.addSchema(s);
  }
}
