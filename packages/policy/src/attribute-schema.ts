import type { Environment } from '@marcbachmann/cel-js';
import { keyReads } from './attribute-reads.ts';
import { buildEnvironment } from './cel.ts';
import { DEFAULT_PASSPORT_ZONE } from './passport-use.ts';
import { pointerToken } from './position.ts';
import type { AttributeSchemaDocument, AttributeType, SourcedDocument } from './types.ts';

/**
 * AttributeSchema documents: which passport attributes (per passport zone) and which Service
 * labels conditions may read, and with which types. With a schema covering a read, a condition
 * that reads an undeclared key, or uses a declared one at the wrong type, is a compile error at
 * the key's line and column; without one, reads stay dynamic (and lint warns once any schema
 * exists). Checking happens at compile time only: the run-time program is the one compiled
 * against the open environment, so `decide` does exactly what it did before.
 */

/** One declared key, with the document that declared it. */
export interface Declared {
  type: AttributeType;
  cel: string;
  schema: string;
}

/** The schemas of a policy set, merged. */
export interface Schemas {
  /** Attributes declared for every zone (schemas without `zone`), or undefined. */
  anyZone: Map<string, Declared> | undefined;
  /** Attributes per zone, the every-zone ones included. */
  zones: Map<string, Map<string, Declared>>;
  /** Declared labels, or undefined when no schema declares labels. */
  labels: Map<string, Declared> | undefined;
}

type Report = (
  sd: SourcedDocument<AttributeSchemaDocument>,
  code: string,
  path: string,
  message: string,
) => void;

/** The CEL type a declaration reads as. JSON integers are `int`; other numbers `double`. */
export function celType(t: { type: string; items?: { type: string } }): string {
  switch (t.type) {
    case 'string':
      return 'string';
    case 'integer':
      return 'int';
    case 'number':
      return 'double';
    case 'boolean':
      return 'bool';
    default:
      return `list<${celType(t.items ?? { type: 'dyn' })}>`;
  }
}

function valueFits(type: string, v: unknown): boolean {
  if (type === 'string') return typeof v === 'string';
  if (type === 'boolean') return typeof v === 'boolean';
  if (type === 'integer') return Number.isInteger(v);
  return typeof v === 'number';
}

/** Problems of one declaration that the JSON Schema of documents cannot say well. */
function typeProblems(t: AttributeType, label: boolean): { path: string; message: string }[] {
  const out: { path: string; message: string }[] = [];
  if (label && t.type !== 'string') {
    out.push({
      path: '/type',
      message: 'labels are strings: a label must be declared `type: string`',
    });
  }
  if (t.type === 'array' && t.items === undefined) {
    out.push({ path: '/type', message: 'an array must declare its element type in `items`' });
  }
  if (t.type !== 'array' && t.items !== undefined) {
    out.push({ path: '/items', message: '`items` is only for `type: array`' });
  }
  const check = (values: unknown[] | undefined, type: string, at: string) =>
    values?.forEach((v, i) => {
      if (!valueFits(type, v)) {
        out.push({
          path: `${at}/${i}`,
          message: `enum value ${JSON.stringify(v)} is not a ${type}`,
        });
      }
    });
  if (t.type !== 'array') check(t.enum, t.type, '/enum');
  else if (t.enum !== undefined) out.push({ path: '/enum', message: 'put the enum in `items`' });
  if (t.items) check(t.items.enum, t.items.type, '/items/enum');
  return out;
}

/**
 * Merges the schema documents. A key declared twice with different CEL types where both apply
 * (same zone, or one for every zone) is `POLICY_SCHEMA_CONFLICT`.
 */
export function mergeSchemas(
  docs: readonly SourcedDocument<AttributeSchemaDocument>[],
  report: Report,
): Schemas | undefined {
  if (docs.length === 0) return undefined;
  const out: Schemas = { anyZone: undefined, zones: new Map(), labels: undefined };
  const add = (
    into: Map<string, Declared>,
    sd: SourcedDocument<AttributeSchemaDocument>,
    part: 'attributes' | 'labels',
    key: string,
    type: AttributeType,
  ) => {
    const cel = celType(type);
    const prior = into.get(key);
    const path = `/spec/${part}/properties/${pointerToken(key)}`;
    if (prior && prior.cel !== cel) {
      report(
        sd,
        'POLICY_SCHEMA_CONFLICT',
        path,
        `${JSON.stringify(key)} is declared as ${cel} here but as ${prior.cel} by AttributeSchema ${prior.schema}`,
      );
      return;
    }
    if (!prior) into.set(key, { type, cel, schema: sd.document.metadata.name });
  };
  const valid = docs.filter((sd) => {
    let ok = true;
    for (const part of ['attributes', 'labels'] as const) {
      for (const [key, type] of Object.entries(sd.document.spec[part]?.properties ?? {})) {
        for (const p of typeProblems(type, part === 'labels')) {
          report(
            sd,
            'POLICY_SCHEMA_INVALID',
            `/spec/${part}/properties/${pointerToken(key)}${p.path}`,
            p.message,
          );
          ok = false;
        }
      }
    }
    return ok;
  });
  // Every-zone declarations first, so that zone ones conflict against them in a stable order.
  const ordered = [...valid].sort(
    (a, b) =>
      Number(a.document.spec.zone !== undefined) - Number(b.document.spec.zone !== undefined),
  );
  for (const sd of ordered) {
    const { zone, attributes, labels } = sd.document.spec;
    if (labels) {
      out.labels ??= new Map();
      for (const [k, t] of Object.entries(labels.properties)) add(out.labels, sd, 'labels', k, t);
    }
    if (!attributes) continue;
    if (zone === undefined) {
      out.anyZone ??= new Map();
      for (const [k, t] of Object.entries(attributes.properties))
        add(out.anyZone, sd, 'attributes', k, t);
    } else {
      let z = out.zones.get(zone);
      if (!z) {
        z = new Map(out.anyZone ?? []);
        out.zones.set(zone, z);
      }
      for (const [k, t] of Object.entries(attributes.properties)) add(z, sd, 'attributes', k, t);
    }
  }
  return out;
}

/** The attributes declared for `zone` (`default` when omitted), or undefined when none apply. */
export function attributesFor(
  schemas: Schemas,
  zone: string | undefined,
): Map<string, Declared> | undefined {
  return schemas.zones.get(zone ?? DEFAULT_PASSPORT_ZONE) ?? schemas.anyZone;
}

/** Checking environments by their declared attributes; a few schemas make a few zones. */
const environments = new Map<string, Environment>();
const MAX_ENVIRONMENTS = 64;

/** The same for one merged set of attributes (rules of a zone share it): no key per rule. */
const byDeclaration = new WeakMap<Map<string, Declared>, Environment>();

function checkingEnvironment(attrs: Map<string, Declared>): Environment {
  const known = byDeclaration.get(attrs);
  if (known) return known;
  const fields: Record<string, string> = Object.create(null);
  for (const [k, d] of [...attrs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    fields[k] = d.cel;
  const key = JSON.stringify(Object.entries(fields));
  let env = environments.get(key);
  if (!env) {
    env = buildEnvironment(fields);
    if (environments.size >= MAX_ENVIRONMENTS) environments.clear();
    environments.set(key, env);
  }
  byDeclaration.set(attrs, env);
  return env;
}

/** A schema problem in a condition, at `offset` in its text. */
export interface ConditionProblem {
  code: 'POLICY_ATTRIBUTE_UNKNOWN' | 'POLICY_LABEL_UNKNOWN' | 'POLICY_CEL_TYPE';
  message: string;
  offset: number;
}

/**
 * Checks a condition that compiled against the open environment (`ast`, its text `expression`)
 * against the attributes and labels that apply to its rule. Undefined `attrs`/`labels`: that part
 * is not covered by any schema and stays dynamic.
 */
export function checkCondition(
  expression: string,
  ast: unknown,
  attrs: Map<string, Declared> | undefined,
  labels: Map<string, Declared> | undefined,
): ConditionProblem[] {
  const problems: ConditionProblem[] = [];
  if (labels) {
    for (const r of keyReads(ast, 'source', 'labels')) {
      if (r.key === undefined) {
        problems.push({
          code: 'POLICY_LABEL_UNKNOWN',
          message:
            'source.labels is read as a whole or by a computed key, which the AttributeSchema cannot check; read declared labels by name',
          offset: r.offset,
        });
      } else if (!labels.has(r.key)) {
        problems.push({
          code: 'POLICY_LABEL_UNKNOWN',
          message: `label ${JSON.stringify(r.key)} is not declared by any AttributeSchema${hint(r.key, labels)}`,
          offset: r.offset,
        });
      }
    }
  }
  if (attrs) {
    let unknown = false;
    for (const r of keyReads(ast, 'passport', 'attrs')) {
      if (r.key === undefined) {
        unknown = true;
        problems.push({
          code: 'POLICY_ATTRIBUTE_UNKNOWN',
          message:
            'passport.attrs is read as a whole or by a computed key, which the AttributeSchema cannot check; read declared attributes by name',
          offset: r.offset,
        });
      } else if (!attrs.has(r.key)) {
        unknown = true;
        problems.push({
          code: 'POLICY_ATTRIBUTE_UNKNOWN',
          message: `passport attribute ${JSON.stringify(r.key)} is not declared by the AttributeSchema of this zone${hint(r.key, attrs)}`,
          offset: r.offset,
        });
      }
    }
    // Types: only once every key is known, so a misspelling is reported once, as itself.
    if (!unknown) {
      const checked = checkingEnvironment(attrs).parse(expression).check();
      if (!checked.valid) {
        const e = checked.error as { message?: string; range?: { start: number } };
        problems.push({
          code: 'POLICY_CEL_TYPE',
          message: `${(e.message ?? 'type error').split('\n')[0]} (with the attribute types of the AttributeSchema)`,
          offset: e.range?.start ?? 0,
        });
      }
    }
  }
  return problems.sort((a, b) => a.offset - b.offset);
}

/** `; did you mean "tier"?` for a key one edit away from a declared one. */
function hint(key: string, declared: Map<string, Declared>): string {
  for (const k of declared.keys())
    if (nearlyEqual(key, k)) return `; did you mean ${JSON.stringify(k)}?`;
  return '';
}

/** Equal but for one inserted, deleted or replaced character, or two swapped neighbours. */
function nearlyEqual(a: string, b: string): boolean {
  if (Math.abs(a.length - b.length) > 1 || a === b) return false;
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  if (a.length === b.length) {
    if (a.slice(i + 1) === b.slice(i + 1)) return true;
    return a[i] === b[i + 1] && a[i + 1] === b[i] && a.slice(i + 2) === b.slice(i + 2);
  }
  return a.length > b.length ? a.slice(i + 1) === b.slice(i) : a.slice(i) === b.slice(i + 1);
}
