import { enumFindings, keyReads } from './attribute-reads.ts';
import { attributesFor } from './attribute-schema.ts';
import {
  type CheckedRule,
  type CheckResult,
  checkDocuments,
  conditionDiag,
  zones,
} from './check.ts';
import { toSourced } from './compile.ts';
import { sortDiagnostics } from './errors.ts';
import { gatewayKey, routeGatewayKey, routeUpstreamKey } from './gateway-check.ts';
import { compileGlob } from './glob.ts';
import { labelReads, RESERVED_LABEL_PREFIX } from './labels.ts';
import { type SourceMatcher, sourceMatches } from './matchers.ts';
import { canonicalServiceKey, documentNamespace } from './namespace.ts';
import { diag, pointerToken, positionOf } from './position.ts';
import { secretDocumentKey } from './secret-check.ts';
import type {
  CompileOptions,
  Diagnostic,
  GatewayDocument,
  PolicyDocument,
  RouteDocument,
  SecretDocument,
  SourcedDocument,
} from './types.ts';

/**
 * Warnings about documents that compile but probably do not say what their author meant:
 * - `LINT_SHADOWED_RULE`: an earlier rule with the same action and mode always matches first, so
 *   this rule can never decide (unreachable).
 * - `LINT_OVERRIDDEN_ALLOW`: an unconditional enforce-mode deny covers every caller of this allow,
 *   so it can never permit anything.
 * - `LINT_UNKNOWN_SERVICE`: a destination, source, dependency, gateway, route upstream, or a
 *   Secret's owner or reader names a service that no Service document declares (only checked
 *   when some Service documents are present).
 * - `LINT_SECRET_CONNECTION`: a postgres Secret's `connection` names a Secret of the set that is
 *   not `static` (the connection URL is written by hand, never generated).
 * - `LINT_TEAM_LABEL`: a condition trusts a label of the calling service that the caller's own team
 *   can set (any key outside `ward.dev/`, or a key computed at run time); see labels.ts.
 * - `LINT_ENUM_VALUE`: a condition compares a declared attribute or label with a literal outside
 *   its `enum`, or a Service's label has a value outside the declared label's `enum`.
 * - `LINT_ATTRIBUTE_UNDECLARED`: AttributeSchemas exist, but none covers a passport attribute or
 *   label a condition reads (its zone has no attribute schema, or no schema declares labels), so
 *   the read is not type-checked (see attribute-schema.ts).
 *
 * Analyses are conservative: a rule "covers" another only when it has no `when` and no L7
 * permissions, so a warning is always real; some dead rules go unreported.
 *
 * @example
 * ```ts
 * for (const w of lintPolicy(documents)) console.warn(formatDiagnostic(w));
 * ```
 */
export function lintPolicy(
  documents: ReadonlyArray<PolicyDocument | SourcedDocument>,
  options: CompileOptions = {},
): Diagnostic[] {
  const checked = checkDocuments(toSourced(documents), options.trustDomain ?? 'ward.local');
  const out: Diagnostic[] = [];
  const warn = (
    c: { file: string; positions?: SourcedDocument['positions'] },
    code: string,
    path: string,
    message: string,
  ) => {
    const p = positionOf(c.positions, path);
    out.push(diag(c.file, p.line, p.col, code, path, message, 'warning'));
  };
  const byDest = new Map<string, CheckedRule[]>();
  for (const r of checked.rules) {
    let list = byDest.get(r.destination);
    if (!list) {
      list = [];
      byDest.set(r.destination, list);
    }
    list.push(r);
  }
  for (const rules of byDest.values()) {
    rules.sort((a, b) =>
      a.intention < b.intention ? -1 : a.intention > b.intention ? 1 : a.index - b.index,
    );
    rules.forEach((rule, i) => {
      const path = `/spec/rules/${rule.index}`;
      const id = `${rule.intention}#${rule.index}`;
      const shadow = rules
        .slice(0, i)
        .find(
          (e) =>
            e.rule.action === rule.rule.action &&
            e.mode === rule.mode &&
            unconditional(e) &&
            covers(e.sources, rule.sources),
        );
      if (shadow) {
        warn(
          rule,
          'LINT_SHADOWED_RULE',
          path,
          `rule ${id} is unreachable: ${shadow.intention}#${shadow.index} always matches first`,
        );
        return;
      }
      if (rule.rule.action === 'allow') {
        const deny = rules.find(
          (e) =>
            e.rule.action === 'deny' &&
            e.mode === 'enforce' &&
            unconditional(e) &&
            covers(e.sources, rule.sources),
        );
        if (deny) {
          warn(
            rule,
            'LINT_OVERRIDDEN_ALLOW',
            path,
            `allow rule ${id} never permits: deny rule ${deny.intention}#${deny.index} always overrides it`,
          );
        }
      }
    });
  }
  for (const r of checked.rules) teamLabelWarnings(r, warn);
  if (checked.schemas) {
    undeclaredWarnings(checked, out);
    enumWarnings(checked, out);
  }
  if (checked.services.size > 0) {
    const known = checked.services;
    for (const [, sd] of checked.intentions) {
      const dest = sd.document.spec.destination;
      const key = canonicalServiceKey(dest, documentNamespace(sd.document));
      if (key !== undefined && !known.has(key)) {
        warn(
          sd,
          'LINT_UNKNOWN_SERVICE',
          '/spec/destination',
          `destination "${dest}" is not a declared Service`,
        );
      }
    }
    for (const r of checked.rules) {
      r.sources.forEach((s, i) => {
        if (s.kind === 'name' && !known.has(s.text)) {
          warn(
            r,
            'LINT_UNKNOWN_SERVICE',
            `/spec/rules/${r.index}/sources/${i}`,
            `source "${s.text}" is not a declared Service`,
          );
        }
      });
    }
    for (const sd of checked.edge) edgeWarnings(sd, known, warn);
    for (const sd of checked.secrets) secretServiceWarnings(sd, known, warn);
    for (const sd of checked.serviceDocs) {
      const namespace = documentNamespace(sd.document);
      sd.document.spec.dependencies?.forEach((d, i) => {
        const key = canonicalServiceKey(d.service, namespace);
        if (key !== undefined && !known.has(key)) {
          warn(
            sd,
            'LINT_UNKNOWN_SERVICE',
            `/spec/dependencies/${i}/service`,
            `dependency "${key}" is not a declared Service`,
          );
        }
      });
    }
  }
  connectionWarnings(checked.secrets, warn);
  return sortDiagnostics(out);
}

type Warn = (c: CheckedRule, code: string, path: string, message: string) => void;

/** Warns for each read of a team-settable label in the rule's condition. */
function teamLabelWarnings(rule: CheckedRule, warn: Warn): void {
  if (!rule.cel?.ok) return;
  const ast = (rule.cel.program as unknown as { ast?: unknown }).ast;
  for (const { key, offset } of labelReads(ast)) {
    if (key?.startsWith(RESERVED_LABEL_PREFIX)) continue;
    const what =
      key === undefined
        ? 'reads source.labels as a whole or by a computed key, so it may trust labels'
        : `trusts the label "${key}"`;
    warn(
      rule,
      'LINT_TEAM_LABEL',
      `/spec/rules/${rule.index}/when`,
      `condition ${what} that the calling service's own team can set; authorize on labels under ${RESERVED_LABEL_PREFIX} (set only by an admin) instead (at character ${offset + 1})`,
    );
  }
}

/** Warns for each read no schema covers, when some schema exists. */
function undeclaredWarnings(checked: CheckResult, out: Diagnostic[]): void {
  const schemas = checked.schemas!;
  const zoneOf = zones(checked);
  for (const rule of checked.rules) {
    if (!rule.cel?.ok) continue;
    const ast = (rule.cel.program as unknown as { ast?: unknown }).ast;
    const parts = [
      [
        'passport',
        'attrs',
        attributesFor(schemas, zoneOf.get(rule.destination)),
        'passport attribute',
      ],
      ['source', 'labels', schemas.labels, 'label'],
    ] as const;
    for (const [variable, field, declared, what] of parts) {
      if (declared !== undefined) continue; // covered: checked at compile time
      for (const { key, offset } of keyReads(ast, variable, field)) {
        const name =
          key === undefined
            ? `${variable}.${field} (as a whole)`
            : `${what} ${JSON.stringify(key)}`;
        const zone = variable === 'passport' ? ` for the passport zone of ${rule.destination}` : '';
        out.push(
          conditionDiag(
            rule,
            offset,
            'LINT_ATTRIBUTE_UNDECLARED',
            `condition reads ${name}, which no AttributeSchema declares${zone}, so it is not type-checked`,
            'warning',
          ),
        );
      }
    }
  }
}

/** Warns for literals and Service label values outside a declared `enum`. */
function enumWarnings(checked: CheckResult, out: Diagnostic[]): void {
  const schemas = checked.schemas!;
  const zoneOf = zones(checked);
  const list = (values: readonly unknown[]) => values.map((v) => JSON.stringify(v)).join(', ');
  for (const rule of checked.rules) {
    if (!rule.cel?.ok || rule.rule.when === undefined) continue;
    const ast = (rule.cel.program as unknown as { ast?: unknown }).ast;
    const attrs = attributesFor(schemas, zoneOf.get(rule.destination));
    for (const f of enumFindings(ast, attrs, schemas.labels)) {
      const message = `condition compares ${f.what} with ${JSON.stringify(f.value)}, which its AttributeSchema does not allow (${list(f.allowed)}), so this comparison never holds for a conforming caller`;
      out.push(conditionDiag(rule, f.offset, 'LINT_ENUM_VALUE', message, 'warning'));
    }
  }
  for (const sd of checked.serviceDocs) {
    for (const [key, value] of Object.entries(sd.document.metadata.labels ?? {})) {
      const allowed = schemas.labels?.get(key)?.type.enum;
      if (!allowed || allowed.includes(value)) continue;
      const path = `/metadata/labels/${pointerToken(key)}`;
      const p = positionOf(sd.positions, path);
      out.push(
        diag(
          sd.file,
          p.line,
          p.col,
          'LINT_ENUM_VALUE',
          path,
          `label ${JSON.stringify(key)} is ${JSON.stringify(value)}, which its AttributeSchema does not allow (${list(allowed)})`,
          'warning',
        ),
      );
    }
  }
}

function unconditional(r: CheckedRule): boolean {
  return r.rule.when === undefined && r.rule.permissions === undefined;
}

/** True when every caller matched by `inner` is also matched by `outer`. */
function covers(outer: SourceMatcher[], inner: SourceMatcher[]): boolean {
  if (outer.some((o) => o.kind === 'any')) return true;
  return inner.every((s) => {
    if (s.kind === 'any') return false;
    if (s.kind === 'glob') {
      // A glob is covered by an identical glob, or by a glob that matches its text taken literally
      // as a superset (e.g. `**` covers `web-*`): checked conservatively by equality of text, or
      // a `**`-only pattern on the same axis.
      return outer.some(
        (o) =>
          o.kind === 'glob' &&
          o.spiffe === s.spiffe &&
          (o.text === s.text || (compileGlob(o.text).test(s.text) && o.text.endsWith('**'))),
      );
    }
    return outer.some((o) =>
      s.kind === 'name' ? sourceMatches(o, s.text, undefined) : sourceMatches(o, undefined, s.text),
    );
  });
}

/**
 * A Gateway whose key, or a Route whose gateway or upstream, no Service document declares: the
 * gateway would have no identity (nor signing key) to serve with, the upstream no identity to call.
 */
function edgeWarnings(
  sd: SourcedDocument<GatewayDocument | RouteDocument>,
  known: ReadonlyMap<string, unknown>,
  warn: (c: SourcedDocument, code: string, path: string, message: string) => void,
): void {
  const doc = sd.document;
  const refs: [string | undefined, string, string][] =
    doc.kind === 'Gateway'
      ? [[gatewayKey(doc), '/metadata/name', 'gateway']]
      : [
          [routeGatewayKey(doc), '/spec/gateway', 'gateway'],
          [routeUpstreamKey(doc), '/spec/upstream/service', 'upstream'],
        ];
  for (const [key, path, what] of refs) {
    if (key !== undefined && !known.has(key)) {
      warn(sd, 'LINT_UNKNOWN_SERVICE', path, `${what} "${key}" is not a declared Service`);
    }
  }
}

/** A Secret whose owner or a reader no Service document declares. */
function secretServiceWarnings(
  sd: SourcedDocument<SecretDocument>,
  known: ReadonlyMap<string, unknown>,
  warn: (c: SourcedDocument, code: string, path: string, message: string) => void,
): void {
  const { spec } = sd.document;
  const namespace = documentNamespace(sd.document);
  const refs: [string, string, string][] = [
    [spec.owner, '/spec/owner', 'owner'],
    ...(spec.readers ?? []).map((r, i): [string, string, string] => [
      r,
      `/spec/readers/${i}`,
      'reader',
    ]),
  ];
  for (const [ref, path, what] of refs) {
    const key = canonicalServiceKey(ref, namespace);
    if (key !== undefined && !known.has(key)) {
      warn(sd, 'LINT_UNKNOWN_SERVICE', path, `${what} "${key}" is not a declared Service`);
    }
  }
}

/**
 * A postgres Secret whose connection is a Secret of the set that is not `static`: the control
 * plane reads the connection's field `url`, which only a hand-written (static) value has.
 */
function connectionWarnings(
  secrets: readonly SourcedDocument<SecretDocument>[],
  warn: (c: SourcedDocument, code: string, path: string, message: string) => void,
): void {
  const typeOf = new Map(
    secrets.map((sd) => [secretDocumentKey(sd.document), sd.document.spec.type ?? 'static']),
  );
  for (const sd of secrets) {
    const pg = sd.document.spec.postgres;
    if (pg === undefined) continue;
    const key = canonicalServiceKey(pg.connection, documentNamespace(sd.document));
    const type = key === undefined ? undefined : typeOf.get(key);
    if (type !== undefined && type !== 'static') {
      warn(
        sd,
        'LINT_SECRET_CONNECTION',
        '/spec/postgres/connection',
        `connection "${key}" is a ${type} secret; it must be a static Secret holding the field "url" (a postgres:// URL)`,
      );
    }
  }
}
