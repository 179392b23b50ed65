import { canonicalInputNames } from './namespace.ts';
import { diag, positionOf } from './position.ts';
import { RequestProblem } from './request/canonical.ts';
import { refusedDecision, tryCanonicalDecisionRequest } from './request/decision.ts';
import type {
  Decision,
  Diagnostic,
  PolicySet,
  PolicyTestCase,
  SourcedPolicyTest,
  SourcePosition,
} from './types.ts';

/** The outcome of one test case. */
export interface PolicyTestResult {
  /** `<test document name>/<case name>`. */
  name: string;
  passed: boolean;
  /** What differed, empty when passed. */
  failures: string[];
  decision: Decision;
  /** Where the case is written, when known. */
  location?: SourcePosition;
}

/** Results of a run, plus which rules no case exercised. */
export interface PolicyTestReport {
  results: PolicyTestResult[];
  passed: number;
  failed: number;
  /** `policy#index` of every rule that decided at least one case. */
  covered: string[];
  /** `policy#index` of every rule that decided no case: untested policy. */
  uncovered: string[];
}

/** `policy#index`, or `default` for the default deny: the form `expect.rule` uses. */
export function ruleId(decision: Decision): string {
  return decision.rule ? `${decision.rule.policy}#${decision.rule.index}` : 'default';
}

/**
 * Runs decision test cases against a policy set, as `opa test` does for Rego: each case's input is
 * decided and compared with `expect` (effect, and when given the deciding rule, `allowed` and
 * `enforced`). Coverage counts a rule as exercised when it decided some case, or matched it as
 * the dry-run rule being reported.
 *
 * @example
 * ```ts
 * const report = runPolicyTests(policySet, tests);
 * if (report.failed > 0) process.exitCode = 1;
 * ```
 */
export function runPolicyTests(
  policySet: PolicySet,
  tests: ReadonlyArray<SourcedPolicyTest | { name: string; cases: PolicyTestCase[] }>,
): PolicyTestReport {
  const results: PolicyTestResult[] = [];
  const covered = new Set<string>();
  for (const t of tests) {
    const sourced = 'document' in t ? t : undefined;
    const docName = sourced ? sourced.document.metadata.name : (t as { name: string }).name;
    const cases = sourced ? sourced.document.spec.cases : (t as { cases: PolicyTestCase[] }).cases;
    cases.forEach((c, i) => {
      // The input as the middleware would decide it: a `path` with `?…` is split into path and
      // query; a request the middleware refuses with 400 is decided by nothing, so it fails.
      const request = c.input.request && tryCanonicalDecisionRequest(c.input.request);
      const refused = request instanceof RequestProblem ? request : undefined;
      const decision =
        request instanceof RequestProblem
          ? refusedDecision(request)
          : policySet.decide(
              canonicalInputNames(request === c.input.request ? c.input : { ...c.input, request }),
            );
      const id = ruleId(decision);
      if (decision.rule) covered.add(id);
      const failures: string[] = [];
      if (refused) failures.push(`request refused (400): ${refused.code}: ${refused.message}`);
      const e = c.expect;
      if (decision.effect !== e.effect)
        failures.push(`effect: want ${e.effect}, got ${decision.effect}`);
      if (e.rule !== undefined && e.rule !== id) failures.push(`rule: want ${e.rule}, got ${id}`);
      if (e.allowed !== undefined && e.allowed !== decision.allowed) {
        failures.push(`allowed: want ${e.allowed}, got ${decision.allowed}`);
      }
      if (e.enforced !== undefined && e.enforced !== decision.enforced) {
        failures.push(`enforced: want ${e.enforced}, got ${decision.enforced}`);
      }
      const result: PolicyTestResult = {
        name: `${docName}/${c.name}`,
        passed: failures.length === 0,
        failures,
        decision,
      };
      if (sourced) {
        const p = positionOf(sourced.positions, `/spec/cases/${i}`);
        result.location = { file: sourced.file, line: p.line, col: p.col };
      }
      results.push(result);
    });
  }
  const all = policySet.rules().map((r) => `${r.ref.policy}#${r.ref.index}`);
  const passed = results.filter((r) => r.passed).length;
  return {
    results,
    passed,
    failed: results.length - passed,
    covered: all.filter((r) => covered.has(r)),
    uncovered: all.filter((r) => !covered.has(r)),
  };
}

/**
 * Diagnostics for test documents that name a rule the policy set does not have (`expect.rule`),
 * so a renamed intention shows up as an error at its position rather than as a puzzling failure.
 */
export function checkPolicyTests(
  policySet: PolicySet,
  tests: readonly SourcedPolicyTest[],
): Diagnostic[] {
  const known = new Set(policySet.rules().map((r) => `${r.ref.policy}#${r.ref.index}`));
  const out: Diagnostic[] = [];
  for (const t of tests) {
    t.document.spec.cases.forEach((c, i) => {
      const rule = c.expect.rule;
      if (rule === undefined || rule === 'default' || known.has(rule)) return;
      const path = `/spec/cases/${i}/expect/rule`;
      const p = positionOf(t.positions, path);
      out.push(
        diag(
          t.file,
          p.line,
          p.col,
          'POLICY_TEST_RULE_UNKNOWN',
          path,
          `no rule ${rule} in the policy set`,
        ),
      );
    });
  }
  return out;
}
