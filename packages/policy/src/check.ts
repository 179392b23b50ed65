import { attributesFor, checkCondition, mergeSchemas, type Schemas } from './attribute-schema.ts';
import { compileCel } from './cel.ts';
import { checkGateway, checkPassportTtl, checkRoute } from './gateway-check.ts';
import { globProblem, isGlob } from './glob.ts';
import { methodProblem } from './http-methods.ts';
import {
  compilePermission,
  compileSource,
  compileValueRegex,
  type PermissionMatcher,
  type SourceMatcher,
} from './matchers.ts';
import {
  canonicalServiceKey,
  documentKey,
  documentNamespace,
  isNamespace,
  parseServiceRef,
  serviceKey,
} from './namespace.ts';
import { diag, positionOf, scalarPosition } from './position.ts';
import { checkSecret } from './secret-check.ts';
import { defaultSpiffeId, spiffeIdProblem } from './spiffe.ts';
import type {
  AttributeSchemaDocument,
  Diagnostic,
  GatewayDocument,
  HeaderMatch,
  IntentionDocument,
  IntentionRule,
  Mode,
  Permission,
  QueryMatch,
  RouteDocument,
  SecretDocument,
  ServiceDocument,
  ServiceInfo,
  SourcedDocument,
} from './types.ts';
import { validateSchema } from './validate.ts';

/**
 * Semantic checks of schema-valid documents: names, SPIFFE IDs, sources, globs, methods, paths and
 * CEL. Collects every problem as a diagnostic and returns the pieces `compile` builds from.
 */

export { HTTP_METHODS } from './http-methods.ts';

const SERVICE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const GRPC_SERVICE = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;
const GRPC_METHOD = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface CheckedRule {
  intention: string;
  destination: string;
  index: number;
  mode: Mode;
  rule: IntentionRule;
  sources: SourceMatcher[];
  permissions: PermissionMatcher[] | undefined;
  cel: ReturnType<typeof compileCel> | undefined;
  file: string;
  line: number;
  positions: SourcedDocument['positions'];
  scalars: SourcedDocument['scalars'];
}

export interface CheckResult {
  diagnostics: Diagnostic[];
  services: Map<string, ServiceInfo>;
  rules: CheckedRule[];
  /** Intentions by name (after duplicates are dropped). */
  intentions: Map<string, SourcedDocument<IntentionDocument>>;
  serviceDocs: SourcedDocument<ServiceDocument>[];
  /** The AttributeSchema documents merged, or undefined when there are none. */
  schemas: Schemas | undefined;
  /** Gateway and Route documents that passed their checks (no rules: for lint and tools). */
  edge: SourcedDocument<GatewayDocument | RouteDocument>[];
  /** Secret documents that passed their checks (no rules, in no bundle: for lint and tools). */
  secrets: SourcedDocument<SecretDocument>[];
}

type Report = (code: string, path: string, message: string) => void;

/** Validates and checks documents. `documents` may be plain (from a bundle) or sourced. */
export function checkDocuments(
  documents: readonly SourcedDocument[],
  trustDomain: string,
): CheckResult {
  const out: CheckResult = {
    diagnostics: [],
    services: new Map(),
    rules: [],
    intentions: new Map(),
    serviceDocs: [],
    schemas: undefined,
    edge: [],
    secrets: [],
  };
  const serviceIds = new Map<string, string>();
  const schemaDocs = new Map<string, SourcedDocument<AttributeSchemaDocument>>();
  /** `Kind/key` of each Gateway and Route seen, with its file. */
  const edgeDocs = new Map<string, string>();
  /** Key of each Secret seen, with its file. */
  const secretDocs = new Map<string, string>();
  const gateways: { doc: GatewayDocument; report: Report }[] = [];
  for (const sd of documents) {
    const schemaErrors = validateSchema(sd.document, sd.file, sd.positions);
    if (schemaErrors.length > 0) {
      out.diagnostics.push(...schemaErrors);
      continue;
    }
    const report: Report = (code, path, message) => {
      const p = positionOf(sd.positions, path);
      out.diagnostics.push(diag(sd.file, p.line, p.col, code, path, message));
    };
    const doc = sd.document;
    if (doc.kind === 'Service') {
      checkService(sd as SourcedDocument<ServiceDocument>, trustDomain, out, serviceIds, report);
    } else if (doc.kind === 'Intention') {
      const name = documentKey(doc);
      const prior = out.intentions.get(name);
      if (prior) {
        report(
          'POLICY_DUPLICATE_NAME',
          '/metadata/name',
          `intention "${name}" is already defined in ${prior.file}`,
        );
        continue;
      }
      out.intentions.set(name, sd as SourcedDocument<IntentionDocument>);
      checkIntention(sd as SourcedDocument<IntentionDocument>, out, report);
    } else if (doc.kind === 'Gateway' || doc.kind === 'Route') {
      // No rules: checked so a bad one never reaches a bundle, then left to the gateway.
      const id = `${doc.kind}/${documentKey(doc)}`;
      const prior = edgeDocs.get(id);
      if (prior !== undefined) {
        report(
          'POLICY_DUPLICATE_NAME',
          '/metadata/name',
          `${doc.kind.toLowerCase()} "${documentKey(doc)}" is already defined in ${prior}`,
        );
        continue;
      }
      edgeDocs.set(id, sd.file);
      const before = out.diagnostics.length;
      if (doc.kind === 'Gateway') {
        checkGateway(doc, report);
        gateways.push({ doc, report });
      } else {
        checkRoute(doc, report);
      }
      if (out.diagnostics.length === before) {
        out.edge.push(sd as SourcedDocument<GatewayDocument | RouteDocument>);
      }
    } else if (doc.kind === 'Secret') {
      // No rules and in no bundle: checked so the control plane stores only valid ones.
      const key = documentKey(doc);
      const prior = secretDocs.get(key);
      if (prior !== undefined) {
        report(
          'POLICY_DUPLICATE_NAME',
          '/metadata/name',
          `secret "${key}" is already defined in ${prior}`,
        );
        continue;
      }
      secretDocs.set(key, sd.file);
      const before = out.diagnostics.length;
      checkSecret(doc, report);
      if (out.diagnostics.length === before) {
        out.secrets.push(sd as SourcedDocument<SecretDocument>);
      }
    } else if (doc.kind === 'AttributeSchema') {
      const name = documentKey(doc);
      const prior = schemaDocs.get(name);
      if (prior) {
        report(
          'POLICY_DUPLICATE_NAME',
          '/metadata/name',
          `attribute schema "${name}" is already defined in ${prior.file}`,
        );
        continue;
      }
      schemaDocs.set(name, sd as SourcedDocument<AttributeSchemaDocument>);
    }
  }
  for (const g of gateways) checkPassportTtl(g.doc, out.serviceDocs, g.report);
  out.schemas = mergeSchemas([...schemaDocs.values()], (sd, code, path, message) => {
    const p = positionOf(sd.positions, path);
    out.diagnostics.push(diag(sd.file, p.line, p.col, code, path, message));
  });
  if (out.schemas) checkTypes(out, out.schemas);
  return out;
}

/** The passport zone of each service with a Service document (default zone otherwise). */
export function zones(out: Pick<CheckResult, 'serviceDocs'>): Map<string, string> {
  const map = new Map<string, string>();
  for (const sd of out.serviceDocs) {
    const zone = sd.document.spec.passport?.zone;
    if (zone !== undefined) map.set(documentKey(sd.document), zone);
  }
  return map;
}

/**
 * Type-checks every compiled condition against the schemas: the attributes of its destination's
 * passport zone, and the declared labels. A rule with a problem is dropped (and the set does not
 * compile); each problem points at its line and column inside the condition.
 */
function checkTypes(out: CheckResult, schemas: Schemas): void {
  const zoneOf = zones(out);
  out.rules = out.rules.filter((r) => {
    if (!r.cel?.ok || r.rule.when === undefined) return true;
    const ast = (r.cel.program as unknown as { ast?: unknown }).ast;
    const attrs = attributesFor(schemas, zoneOf.get(r.destination));
    const problems = checkCondition(r.rule.when, ast, attrs, schemas.labels);
    for (const p of problems) out.diagnostics.push(conditionDiag(r, p.offset, p.code, p.message));
    return problems.length === 0;
  });
}

/**
 * A diagnostic at `offset` inside a rule's condition: its line and column in the YAML source when
 * the scalar's text is known, else the condition's own position and the offset in the message.
 */
export function conditionDiag(
  r: CheckedRule,
  offset: number,
  code: string,
  message: string,
  severity: 'error' | 'warning' = 'error',
): Diagnostic {
  const path = `/spec/rules/${r.index}/when`;
  const scalar = r.scalars?.get(path);
  const at =
    scalar && r.rule.when !== undefined
      ? scalarPosition(scalar, r.rule.when, offset)
      : positionOf(r.positions, path);
  const where = scalar ? '' : ` (at character ${offset + 1})`;
  return diag(r.file, at.line, at.col, code, path, `${message}${where}`, severity);
}

function checkService(
  sd: SourcedDocument<ServiceDocument>,
  trustDomain: string,
  out: CheckResult,
  serviceIds: Map<string, string>,
  report: Report,
): void {
  const { metadata, spec } = sd.document;
  const namespace = documentNamespace(sd.document);
  // The key (`name`, or `namespace/name` outside the default namespace) is the service's name
  // everywhere else: bundles, decisions, tokens, the graph.
  const name = serviceKey(namespace, metadata.name);
  if (out.services.has(name)) {
    report('POLICY_DUPLICATE_NAME', '/metadata/name', `service "${name}" is already defined`);
    return;
  }
  const spiffeId = spec.spiffeId ?? defaultSpiffeId(trustDomain, namespace, metadata.name);
  if (spec.spiffeId !== undefined) {
    const problem = spiffeIdProblem(spec.spiffeId);
    if (problem) {
      report('POLICY_SPIFFE_INVALID', '/spec/spiffeId', `SPIFFE ID: ${problem}`);
      return;
    }
  }
  const other = serviceIds.get(spiffeId);
  if (other !== undefined) {
    report(
      'POLICY_DUPLICATE_NAME',
      spec.spiffeId !== undefined ? '/spec/spiffeId' : '/metadata/name',
      `SPIFFE ID ${spiffeId} is already the identity of service "${other}"`,
    );
    return;
  }
  serviceIds.set(spiffeId, name);
  out.serviceDocs.push(sd);
  out.services.set(
    name,
    Object.freeze({
      name,
      namespace,
      spiffeId,
      ...(spec.owner !== undefined ? { owner: spec.owner } : {}),
      labels: Object.freeze({ ...(metadata.labels ?? {}) }),
      dependencies: Object.freeze(
        (spec.dependencies ?? []).map((d) =>
          Object.freeze({ ...d, service: canonicalServiceKey(d.service, namespace) ?? d.service }),
        ),
      ),
    }),
  );
}

function checkIntention(
  sd: SourcedDocument<IntentionDocument>,
  out: CheckResult,
  report: Report,
): void {
  const { spec } = sd.document;
  const mode = spec.mode ?? 'enforce';
  const namespace = documentNamespace(sd.document);
  const destination = parseServiceRef(spec.destination, namespace);
  if (destination === undefined) return; // the schema refused it already
  if (destination.namespace !== namespace) {
    // An intention lives in its destination's namespace: whoever owns that namespace decides who
    // may call into it (a team cannot grant itself access to another namespace's service).
    report(
      'POLICY_NAMESPACE_MISMATCH',
      '/spec/destination',
      `destination "${spec.destination}" is in namespace "${destination.namespace}", but this intention is in "${namespace}": an intention lives in its destination's namespace`,
    );
    return;
  }
  const destinationKey = serviceKey(namespace, destination.name);
  spec.rules.forEach((rule, index) => {
    const base = `/spec/rules/${index}`;
    let ok = true;
    const sources: SourceMatcher[] = [];
    rule.sources.forEach((source, i) => {
      const problem = sourceProblem(source);
      if (problem) {
        report(problem.code, `${base}/sources/${i}`, problem.message);
        ok = false;
      } else {
        sources.push(compileSource(source, namespace));
      }
    });
    let permissions: PermissionMatcher[] | undefined;
    if (rule.permissions) {
      permissions = [];
      rule.permissions.forEach((p, i) => {
        if (checkPermission(p, `${base}/permissions/${i}`, report)) {
          permissions!.push(compilePermission(p, rule.action === 'deny'));
        } else {
          ok = false;
        }
      });
    }
    let cel: CheckedRule['cel'];
    if (rule.when !== undefined) {
      cel = compileCel(rule.when);
      if (!cel.ok) {
        const at = cel.offset > 0 ? ` (at character ${cel.offset + 1})` : '';
        report(cel.code, `${base}/when`, `${cel.message}${at}`);
        ok = false;
      }
    }
    if (!ok) return;
    out.rules.push({
      intention: documentKey(sd.document),
      destination: destinationKey,
      index,
      mode,
      rule,
      sources,
      permissions,
      cel,
      file: sd.file,
      line: positionOf(sd.positions, base).line,
      positions: sd.positions,
      scalars: sd.scalars,
    });
  });
}

/** Why a rule source is invalid, or undefined. */
export function sourceProblem(source: string): { code: string; message: string } | undefined {
  if (source === '*') return undefined;
  if (isGlob(source)) {
    const g = globProblem(source);
    if (g) return { code: 'POLICY_GLOB_INVALID', message: `source pattern "${source}": ${g}` };
  }
  if (source.startsWith('spiffe://')) {
    const p = spiffeIdProblem(source, true);
    return p ? { code: 'POLICY_SPIFFE_INVALID', message: `SPIFFE ID: ${p}` } : undefined;
  }
  const slash = source.indexOf('/');
  const ns = slash < 0 ? undefined : source.slice(0, slash);
  const name = slash < 0 ? source : source.slice(slash + 1);
  if (ns !== undefined && !isNamespace(ns)) {
    return {
      code: 'POLICY_SOURCE_INVALID',
      message: isGlob(ns)
        ? `source "${source}": a namespace cannot be a pattern; match services across namespaces with a SPIFFE ID pattern (spiffe://<trust-domain>/ns/*/sa/<name>)`
        : `source "${source}": "${ns}" is not a namespace (a DNS label)`,
    };
  }
  const valid = isGlob(name) ? /^[a-z0-9*-]+$/.test(name) : SERVICE_NAME.test(name);
  if (!valid) {
    return {
      code: 'POLICY_SOURCE_INVALID',
      message: `source "${source}" is neither a service (name or namespace/name), a namespace (namespace/*), a SPIFFE ID (spiffe://…), a glob nor "*"`,
    };
  }
  return undefined;
}

/**
 * A header or query matcher: exactly one of `exact`, `prefix`, `glob`, `regex`, `present` (the schema
 * bounds the field count only, since `ignoreCase` may come with them), `ignoreCase` only beside a
 * value matcher, and a valid glob or RE2 pattern.
 */
function checkValueMatch(
  m: HeaderMatch | QueryMatch,
  what: string,
  path: string,
  report: Report,
): boolean {
  const given = (['exact', 'prefix', 'glob', 'regex', 'present'] as const).filter(
    (k) => m[k] !== undefined,
  );
  if (given.length !== 1) {
    report(
      'POLICY_SCHEMA_INVALID',
      path,
      `${what} "${m.name}" must have exactly one of "exact", "prefix", "glob", "regex" or "present"${given.length > 1 ? ` (it has ${given.map((k) => `"${k}"`).join(', ')})` : ''}`,
    );
    return false;
  }
  if (m.ignoreCase !== undefined && m.present !== undefined) {
    report(
      'POLICY_SCHEMA_INVALID',
      `${path}/ignoreCase`,
      `${what} "${m.name}": "ignoreCase" applies to "exact", "prefix", "glob" or "regex", not to "present"`,
    );
    return false;
  }
  if (m.regex !== undefined) {
    const compiled = compileValueRegex(m as typeof m & { regex: string });
    if (!compiled.ok) {
      report('POLICY_REGEX_INVALID', `${path}/regex`, `${what} "${m.name}": ${compiled.message}`);
      return false;
    }
  }
  if (m.glob !== undefined && globProblem(m.glob)) {
    report(
      'POLICY_GLOB_INVALID',
      `${path}/glob`,
      `${what} glob "${m.glob}": ${globProblem(m.glob)}`,
    );
    return false;
  }
  return true;
}

function checkPermission(p: Permission, path: string, report: Report): boolean {
  let ok = true;
  if (p.http) {
    p.http.methods?.forEach((m, i) => {
      const problem = methodProblem(m);
      if (problem) {
        report('POLICY_METHOD_UNKNOWN', `${path}/http/methods/${i}`, problem);
        ok = false;
      }
    });
    p.http.paths?.forEach((m, i) => {
      const value = m.exact ?? m.prefix ?? m.glob ?? '';
      const at = `${path}/http/paths/${i}`;
      if (!value.startsWith('/')) {
        report('POLICY_PATH_INVALID', at, `path "${value}" must start with "/"`);
        ok = false;
      } else if (m.glob !== undefined && globProblem(m.glob)) {
        report(
          'POLICY_GLOB_INVALID',
          `${at}/glob`,
          `path glob "${m.glob}": ${globProblem(m.glob)}`,
        );
        ok = false;
      }
    });
    p.http.headers?.forEach((h, i) => {
      if (!checkValueMatch(h, 'header', `${path}/http/headers/${i}`, report)) ok = false;
    });
    p.http.query?.forEach((q, i) => {
      if (!checkValueMatch(q, 'query parameter', `${path}/http/query/${i}`, report)) ok = false;
    });
  }
  if (p.grpc) {
    if (p.grpc.service !== '*' && !GRPC_SERVICE.test(p.grpc.service)) {
      report(
        'POLICY_GRPC_INVALID',
        `${path}/grpc/service`,
        `"${p.grpc.service}" is not a fully-qualified gRPC service name (or "*")`,
      );
      ok = false;
    }
    p.grpc.methods?.forEach((m, i) => {
      if (!GRPC_METHOD.test(m)) {
        report(
          'POLICY_GRPC_INVALID',
          `${path}/grpc/methods/${i}`,
          `"${m}" is not a gRPC method name`,
        );
        ok = false;
      }
    });
  }
  return ok;
}
