import { Activation } from './cel.ts';
import { sourceMatches } from './matchers.ts';
import type { Bucket, CompiledModel, CompiledRule, Destination } from './model.ts';
import type {
  Decision,
  DecisionInput,
  Explanation,
  PolicySet,
  RuleEvaluation,
  RuleInfo,
  ServiceInfo,
} from './types.ts';

const NO_DESTINATION: Decision = Object.freeze({
  effect: 'deny',
  enforced: true,
  allowed: false,
  rule: null,
  reason: 'denied by default: no intention names this destination',
});

/**
 * The decision engine. `decide` is the hot path: two Map lookups pick the bucket of rules for the
 * (destination, caller) pair; rules are scanned denies first, then allows; the returned Decision is
 * one of the frozen objects built at compile time. The only per-decision work beyond that is CEL:
 * the activation is filled (not allocated) on the first rule that has a condition.
 */
export class CompiledPolicySet implements PolicySet {
  readonly trustDomain: string;
  readonly services: ReadonlyMap<string, ServiceInfo>;
  readonly #model: CompiledModel;
  readonly #activation: Activation;
  // Per-decision scratch state; valid only during one synchronous `decide` call.
  #input: DecisionInput | undefined;
  #service: string | undefined;
  #spiffeId: string | undefined;
  #known: ServiceInfo | undefined;
  #filled = false;
  #celError: unknown;

  constructor(model: CompiledModel) {
    this.#model = model;
    this.trustDomain = model.trustDomain;
    this.services = model.services;
    this.#activation = new Activation(model.env);
    // (not frozen: V8 slows stores to private fields of frozen objects)
  }

  decide(input: DecisionInput): Decision {
    const dest = this.#model.destinations.get(input.destination);
    if (dest === undefined) return NO_DESTINATION;
    const bucket = this.#resolve(dest, input);
    this.#input = input;
    this.#filled = false;
    try {
      return this.#evaluate(dest, bucket);
    } finally {
      this.#input = undefined;
      if (this.#filled) this.#activation.end();
    }
  }

  /** Picks the bucket for the caller and sets the resolved identity fields. */
  #resolve(dest: Destination, input: DecisionInput): Bucket {
    const src = input.source;
    let name = src?.service;
    let id = src?.spiffeId;
    let known: ServiceInfo | undefined;
    let key: string | undefined;
    let consistent = true;
    if (id !== undefined) {
      known = this.#model.servicesById.get(id);
      if (known !== undefined) {
        if (name === undefined) name = known.name;
        else if (name !== known.name) consistent = false;
        key = known.name;
      } else {
        if (name !== undefined) consistent = false;
        key = id;
      }
    } else if (name !== undefined) {
      known = this.#model.services.get(name);
      if (known !== undefined) id = known.spiffeId;
      key = name;
    }
    this.#service = name;
    this.#spiffeId = id;
    this.#known = consistent ? known : undefined;
    if (!consistent) return dest.all;
    return (key !== undefined ? dest.byPrincipal.get(key) : undefined) ?? dest.fallback;
  }

  #evaluate(dest: Destination, b: Bucket): Decision {
    // FULL: every rule. Any matching deny wins; otherwise any matching allow; otherwise default.
    let d = -1;
    const denies = b.denies;
    for (let i = 0; i < denies.length; i++) {
      if (this.#matches(denies[i]!, b.denyTest[i] === 1)) {
        d = i;
        break;
      }
    }
    if (d !== -1) {
      const rule = denies[d]!;
      if (!rule.dryRun) return rule.decision;
      if (dest.softApply) return rule.dryRunDecision;
      // ENFORCED: enforce-mode rules only. Denies before `d` did not match; continue after it.
      for (let i = d + 1; i < denies.length; i++) {
        const r = denies[i]!;
        if (!r.dryRun && this.#matches(r, b.denyTest[i] === 1)) return r.decision;
      }
      const allows = b.allows;
      for (let i = 0; i < allows.length; i++) {
        const r = allows[i]!;
        if (!r.dryRun && this.#matches(r, b.allowTest[i] === 1)) return rule.dryRunDecision;
      }
      return dest.defaultDecision; // both say deny; the enforced default decided
    }
    const allows = b.allows;
    for (let i = 0; i < allows.length; i++) {
      const rule = allows[i]!;
      if (!this.#matches(rule, b.allowTest[i] === 1)) continue;
      if (!rule.dryRun) return rule.decision;
      if (dest.softApply) return rule.dryRunDecision;
      for (let j = i + 1; j < allows.length; j++) {
        const r = allows[j]!;
        if (!r.dryRun && this.#matches(r, b.allowTest[j] === 1)) return r.decision;
      }
      return rule.dryRunDecision;
    }
    return dest.softApply ? dest.softApplyDecision : dest.defaultDecision;
  }

  /** Source (when `test`), then L7 permissions, then CEL; cheapest first. */
  #matches(rule: CompiledRule, test: boolean): boolean {
    if (test) {
      const sources = rule.sources;
      let any = false;
      for (let i = 0; i < sources.length; i++) {
        if (sourceMatches(sources[i]!, this.#service, this.#spiffeId)) {
          any = true;
          break;
        }
      }
      if (!any) return false;
    }
    const perms = rule.permissions;
    if (perms !== undefined) {
      const req = this.#input!.request;
      let any = false;
      for (let i = 0; i < perms.length; i++) {
        if (perms[i]!.match(req)) {
          any = true;
          break;
        }
      }
      if (!any) return false;
    }
    const cel = rule.cel;
    if (cel === undefined) return true;
    if (!this.#filled) this.#fill();
    try {
      const v = cel(this.#activation);
      if (typeof v === 'boolean') return v;
      this.#celError = new TypeError(`condition returned ${typeof v}, not a bool`);
    } catch (error) {
      this.#celError = error;
    }
    // Fail closed: a condition that cannot be evaluated makes an allow not match and a deny match.
    return rule.deny;
  }

  #fill(): void {
    const input = this.#input!;
    const known = this.#known;
    this.#activation.begin(
      input,
      this.#service,
      this.#spiffeId,
      input.source?.namespace ?? known?.namespace,
      input.source?.labels ?? (known?.labels as Record<string, string> | undefined),
    );
    this.#filled = true;
  }

  explain(input: DecisionInput): Explanation {
    const decision = this.decide(input);
    const dest = this.#model.destinations.get(input.destination);
    const considered: RuleEvaluation[] = [];
    if (dest === undefined) return { decision, considered };
    this.#resolve(dest, input);
    this.#input = input;
    this.#filled = false;
    try {
      for (const rule of dest.rules) considered.push(this.#explainRule(rule));
    } finally {
      this.#input = undefined;
      if (this.#filled) this.#activation.end();
    }
    return { decision, considered };
  }

  #explainRule(rule: CompiledRule): RuleEvaluation {
    const ref = rule.ref;
    const who = this.#service ?? this.#spiffeId ?? '(anonymous)';
    const matched = rule.sources.find((s) => sourceMatches(s, this.#service, this.#spiffeId));
    if (!matched) {
      return {
        rule: ref,
        matched: false,
        detail: `source ${who} not in [${rule.info.sources.join(', ')}]`,
      };
    }
    const parts = [`source ${who} matches ${matched.text}`];
    if (rule.permissions) {
      const req = this.#input!.request;
      const p = rule.permissions.find((m) => m.match(req));
      if (!p) {
        const why = rule.permissions.map((m) => m.why(req)).join('; ');
        return { rule: ref, matched: false, detail: `${parts[0]}; no permission matches: ${why}` };
      }
      parts.push(p.why(req));
    }
    if (rule.cel) {
      this.#celError = undefined;
      const ok = this.#matches(rule, false);
      if (this.#celError !== undefined) {
        const e = this.#celError as { message?: string };
        const msg = String(e.message ?? e).split('\n')[0];
        parts.push(
          `condition failed to evaluate (${msg}): fail closed, so this ${rule.deny ? 'deny matches' : 'allow does not match'}`,
        );
        this.#celError = undefined;
        return { rule: ref, matched: ok, detail: parts.join('; ') };
      }
      parts.push(`condition ${ok ? 'true' : 'false'}`);
      if (!ok) return { rule: ref, matched: false, detail: parts.join('; ') };
    }
    if (rule.dryRun) parts.push('dry-run');
    return { rule: ref, matched: true, detail: parts.join('; ') };
  }

  destinations(): string[] {
    return [...this.#model.destinations.keys()];
  }

  rules(destination?: string): RuleInfo[] {
    if (destination !== undefined) {
      return (this.#model.destinations.get(destination)?.rules ?? []).map((r) => r.info);
    }
    return [...this.#model.destinations.values()].flatMap((d) => d.rules.map((r) => r.info));
  }

  serviceBySpiffeId(spiffeId: string): ServiceInfo | undefined {
    return this.#model.servicesById.get(spiffeId);
  }
}
