/** Validators for the schemas stored in fixtures/schemas (SARIF 2.1.0, CycloneDX 1.6, OpenVEX). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';

const SCHEMAS = join(import.meta.dirname, 'fixtures', 'schemas');
const schema = (name: string) => JSON.parse(readFileSync(join(SCHEMAS, name), 'utf8'));

/** Formats the schemas use, checked loosely but for real (ajv-formats is not a dependency). */
function addFormats(ajv: Ajv | Ajv2020): void {
  const dateTime = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
  const absolute = /^[A-Za-z][A-Za-z0-9+.-]*:[^\s]*$/;
  ajv.addFormat('date-time', (s: string) => dateTime.test(s) && Number.isFinite(Date.parse(s)));
  ajv.addFormat('uri', (s: string) => absolute.test(s));
  ajv.addFormat('iri', (s: string) => absolute.test(s));
  ajv.addFormat('uri-reference', (s: string) => !/\s/.test(s));
  ajv.addFormat('iri-reference', (s: string) => !/\s/.test(s));
  ajv.addFormat('idn-email', (s: string) => /^[^@\s]+@[^@\s]+$/.test(s));
}

export function sarifValidator(): ValidateFunction {
  // The OASIS schema is draft-04; ajv reads it once the draft-04 `id` is renamed.
  const s = schema('sarif-schema-2.1.0.json');
  s.$id = s.id;
  delete s.id;
  delete s.$schema;
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  return ajv.compile(s);
}

export function cycloneDxValidator(): ValidateFunction {
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema(schema('spdx.schema.json'));
  ajv.addSchema(schema('jsf-0.82.schema.json'));
  return ajv.compile(schema('bom-1.6.schema.json'));
}

export function openVexValidator(): ValidateFunction {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  return ajv.compile(schema('openvex_json_schema.json'));
}
