import type { CelProgram } from './cel.ts';
import type { PermissionMatcher, SourceMatcher } from './matchers.ts';
import type { Decision, RuleInfo, RuleRef, ServiceInfo } from './types.ts';

/** One rule, compiled: matchers, CEL program and its preallocated (frozen) decisions. */
export interface CompiledRule {
  /** Position in evaluation order within its destination. */
  ordinal: number;
  ref: RuleRef;
  info: RuleInfo;
  deny: boolean;
  dryRun: boolean;
  sources: SourceMatcher[];
  permissions: PermissionMatcher[] | undefined;
  cel: CelProgram | undefined;
  /** Returned when this rule decides and the enforced rules agree (enforce-mode rules). */
  decision: Decision;
  /** Returned when this dry-run rule decides and the enforced outcome differs (or soft-apply). */
  dryRunDecision: Decision;
}

/**
 * The rules of one (destination, caller) pair, split by action so that "any deny wins" is a scan
 * of `denies` followed, only if none matched, by a scan of `allows`. A `test` flag of 1 means the
 * rule's sources must still be matched against the caller at decision time.
 */
export interface Bucket {
  denies: CompiledRule[];
  denyTest: Uint8Array;
  allows: CompiledRule[];
  allowTest: Uint8Array;
}

export interface Destination {
  name: string;
  /** All its intentions are dry-run: nothing is enforced, the enforced outcome is allow. */
  softApply: boolean;
  rules: CompiledRule[];
  /** Callers named exactly (or glob-matched at compile time), by principal key. */
  byPrincipal: Map<string, Bucket>;
  /** Pattern rules for callers without a bucket (unknown or anonymous). */
  fallback: Bucket;
  /** Every rule, each tested: for callers whose name and SPIFFE ID disagree. */
  all: Bucket;
  defaultDecision: Decision;
  softApplyDecision: Decision;
}

export interface CompiledModel {
  trustDomain: string;
  env: Readonly<Record<string, string>>;
  services: Map<string, ServiceInfo>;
  servicesById: Map<string, ServiceInfo>;
  destinations: Map<string, Destination>;
}
