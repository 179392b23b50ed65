import { trustDomainProblem } from '@ward/spiffe';
import { memoizeCel } from './cel.ts';
import { type CheckedRule, checkDocuments } from './check.ts';
import { PolicyCompileError, sortDiagnostics } from './errors.ts';
import { sourceMatches } from './matchers.ts';
import type { Bucket, CompiledModel, CompiledRule, Destination } from './model.ts';
import { parseDocuments } from './parse.ts';
import { CompiledPolicySet } from './policy-set.ts';
import type {
  CompileOptions,
  Decision,
  Diagnostic,
  PolicyDocument,
  PolicySet,
  RuleRef,
  ServiceInfo,
  SourcedDocument,
  SourcedPolicyTest,
} from './types.ts';

/** Accepts both parsed documents (with positions) and plain ones (from a bundle). */
export function toSourced(
  documents: ReadonlyArray<PolicyDocument | SourcedDocument>,
  file = '<input>',
): SourcedDocument[] {
  if (!Array.isArray(documents)) throw new TypeError('compile: documents must be an array');
  return documents.map((d, index) =>
    d !== null && typeof d === 'object' && 'document' in d && 'file' in d
      ? (d as SourcedDocument)
      : { document: d as PolicyDocument, file, index },
  );
}

function resolveOptions(options: CompileOptions): {
  trustDomain: string;
  env: Record<string, string>;
} {
  const trustDomain = options.trustDomain ?? 'ward.local';
  const problem = trustDomainProblem(trustDomain);
  if (problem !== undefined) {
    throw new TypeError(`compile: invalid trust domain ${JSON.stringify(trustDomain)}: ${problem}`);
  }
  const env: Record<string, string> = Object.create(null);
  for (const [k, v] of Object.entries(options.env ?? {})) {
    if (typeof v !== 'string') throw new TypeError(`compile: env.${k} must be a string`);
    env[k] = v;
  }
  return { trustDomain, env: Object.freeze(env) };
}

/** Compiles without throwing: the policy set when there are no errors, and every diagnostic. */
export function tryCompile(
  documents: ReadonlyArray<PolicyDocument | SourcedDocument>,
  options: CompileOptions = {},
): { policySet?: PolicySet; diagnostics: Diagnostic[] } {
  const { trustDomain, env } = resolveOptions(options);
  const checked = checkDocuments(toSourced(documents), trustDomain);
  const diagnostics = sortDiagnostics(checked.diagnostics);
  if (diagnostics.some((d) => d.severity === 'error')) return { diagnostics };
  const model: CompiledModel = {
    trustDomain,
    env,
    services: checked.services,
    servicesById: new Map([...checked.services.values()].map((s) => [s.spiffeId, s])),
    destinations: buildDestinations(checked.rules, checked.services),
  };
  return { policySet: new CompiledPolicySet(model), diagnostics };
}

/**
 * Compiles documents into an immutable policy set. Every document is schema-validated and every
 * `when` condition parsed and type-checked here, once; decisions never meet a load-time error.
 *
 * @throws PolicyCompileError carrying every diagnostic, sorted by position, if any is an error.
 * @example
 * ```ts
 * const set = compile(documents, { trustDomain: 'shop.example' });
 * set.decide({ destination: 'orders', source: { service: 'frontend' } }).allowed;
 * ```
 */
export function compile(
  documents: ReadonlyArray<PolicyDocument | SourcedDocument>,
  options: CompileOptions = {},
): PolicySet {
  const { policySet, diagnostics } = tryCompile(documents, options);
  if (!policySet) throw new PolicyCompileError(diagnostics);
  return policySet;
}

/** What `loadPolicy` returns: the policy set (absent on errors), tests and every diagnostic. */
export interface LoadResult {
  policySet?: PolicySet;
  documents: SourcedDocument[];
  tests: SourcedPolicyTest[];
  diagnostics: Diagnostic[];
}

/**
 * Parses and compiles files given as text (the package does no I/O; the caller reads them).
 *
 * @example
 * ```ts
 * const { policySet, diagnostics } = loadPolicy([{ file: 'orders.yaml', text }]);
 * ```
 */
export function loadPolicy(
  sources: ReadonlyArray<{ file: string; text: string }>,
  options: CompileOptions = {},
): LoadResult {
  const documents: SourcedDocument[] = [];
  const tests: SourcedPolicyTest[] = [];
  const diagnostics: Diagnostic[] = [];
  for (const { file, text } of sources) {
    const parsed = parseDocuments(text, file);
    documents.push(...parsed.documents);
    tests.push(...parsed.tests);
    diagnostics.push(...parsed.diagnostics);
  }
  const compiled = tryCompile(documents, options);
  diagnostics.push(...compiled.diagnostics);
  sortDiagnostics(diagnostics);
  const failed = diagnostics.some((d) => d.severity === 'error');
  return {
    ...(compiled.policySet && !failed ? { policySet: compiled.policySet } : {}),
    documents,
    tests,
    diagnostics,
  };
}

// ---------------------------------------------------------------------------------------------
// Index construction

function decision(
  effect: 'allow' | 'deny',
  enforced: boolean,
  allowed: boolean,
  rule: RuleRef | null,
  reason: string,
): Decision {
  return Object.freeze({ effect, enforced, allowed, rule, reason });
}

function compileRule(c: CheckedRule, ordinal: number, softApply: boolean): CompiledRule {
  const ref: RuleRef = Object.freeze({
    policy: c.intention,
    index: c.index,
    action: c.rule.action,
    mode: c.mode,
  });
  const id = `${c.intention}#${c.index}`;
  const desc = c.rule.description ? `: ${c.rule.description}` : '';
  const deny = c.rule.action === 'deny';
  const verb = deny ? 'denied' : 'allowed';
  const dryRunAllowed = softApply || deny;
  const dryReason = softApply
    ? `dry-run rule ${id} would ${c.rule.action}${desc} (${c.destination} is in soft-apply: nothing is enforced, the call is allowed)`
    : `dry-run rule ${id} would ${c.rule.action}${desc}; not enforced: the enforced rules ${dryRunAllowed ? 'allow' : 'deny'} the call`;
  return {
    ordinal,
    ref,
    info: Object.freeze({
      ref,
      destination: c.destination,
      sources: Object.freeze([...c.rule.sources]),
      ...(c.rule.permissions ? { permissions: c.rule.permissions } : {}),
      ...(c.rule.when !== undefined ? { when: c.rule.when } : {}),
      ...(c.rule.description !== undefined ? { description: c.rule.description } : {}),
      file: c.file,
      line: c.line,
    }),
    deny,
    dryRun: c.mode === 'dry-run',
    sources: c.sources,
    permissions: c.permissions,
    cel: c.cel?.ok ? memoizeCel(c.cel.program) : undefined,
    decision: decision(c.rule.action, true, !deny, ref, `${verb} by rule ${id}${desc}`),
    dryRunDecision: decision(c.rule.action, false, dryRunAllowed, ref, dryReason),
  };
}

function makeBucket(rules: CompiledRule[], test: (r: CompiledRule) => boolean): Bucket {
  const denies = rules.filter((r) => r.deny);
  const allows = rules.filter((r) => !r.deny);
  return {
    denies,
    denyTest: Uint8Array.from(denies, (r) => (test(r) ? 1 : 0)),
    allows,
    allowTest: Uint8Array.from(allows, (r) => (test(r) ? 1 : 0)),
  };
}

/**
 * Builds, per destination, a bucket per caller ("principal": a known service, or an unknown name or
 * SPIFFE ID that some rule names exactly). A known service's bucket holds the rules whose sources
 * match it, decided at compile time, so deciding for it needs no source test at all.
 */
function buildDestinations(
  checked: CheckedRule[],
  services: Map<string, ServiceInfo>,
): Map<string, Destination> {
  const byId = new Map([...services.values()].map((s) => [s.spiffeId, s]));
  const groups = new Map<string, CheckedRule[]>();
  const sorted = [...checked].sort((a, b) =>
    a.intention < b.intention ? -1 : a.intention > b.intention ? 1 : a.index - b.index,
  );
  for (const c of sorted) {
    let list = groups.get(c.destination);
    if (!list) {
      list = [];
      groups.set(c.destination, list);
    }
    list.push(c);
  }
  const out = new Map<string, Destination>();
  for (const [name, list] of [...groups].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const softApply = list.every((c) => c.mode === 'dry-run');
    const rules = list.map((c, i) => compileRule(c, i, softApply));
    const principals = new Set<string>();
    for (const r of rules) {
      for (const s of r.sources) {
        if (s.kind === 'name') principals.add(s.text);
        if (s.kind === 'spiffe') principals.add(byId.get(s.text)?.name ?? s.text);
        if (s.kind === 'glob') {
          for (const svc of services.values()) {
            if (sourceMatches(s, svc.name, svc.spiffeId)) principals.add(svc.name);
          }
        }
      }
    }
    const byPrincipal = new Map<string, Bucket>();
    for (const key of principals) {
      const svc = services.get(key) ?? byId.get(key);
      if (svc) {
        // Known service: every rule's match is decided now.
        const mine = rules.filter((r) =>
          r.sources.some((s) => sourceMatches(s, svc.name, svc.spiffeId)),
        );
        byPrincipal.set(
          key,
          makeBucket(mine, () => false),
        );
      } else {
        // Unknown caller named exactly by some rule: exact rules match by construction; pattern
        // rules are tested at decision time.
        const spiffe = key.startsWith('spiffe://');
        const exact = (r: CompiledRule) =>
          r.sources.some(
            (s) => (spiffe ? s.kind === 'spiffe' : s.kind === 'name') && s.text === key,
          );
        const pattern = (r: CompiledRule) =>
          r.sources.some((s) => s.kind === 'any' || s.kind === 'glob');
        const mine = rules.filter((r) => exact(r) || pattern(r));
        byPrincipal.set(
          key,
          makeBucket(mine, (r) => !exact(r)),
        );
      }
    }
    const patterns = rules.filter((r) =>
      r.sources.some((s) => s.kind === 'any' || s.kind === 'glob'),
    );
    out.set(name, {
      name,
      softApply,
      rules,
      byPrincipal,
      fallback: makeBucket(patterns, () => true),
      all: makeBucket(rules, () => true),
      defaultDecision: decision(
        'deny',
        true,
        false,
        null,
        `denied by default: no rule of ${name} allows this caller`,
      ),
      softApplyDecision: decision(
        'deny',
        false,
        true,
        null,
        `no rule of ${name} allows this caller; would be denied by default, but ${name} has only dry-run intentions (soft-apply), so the call is allowed`,
      ),
    });
  }
  return out;
}
