/**
 * Counts of the decisions the demo's services made, for the status lines: allowed, dry-run
 * would-denies (let through) and enforced refusals, each by edge.
 */
import type { DecisionLogEntry } from '@ward/sdk';

export interface TallySnapshot {
  allowed: number;
  wouldDeny: number;
  refused: number;
  /** `source → destination (rule)` of would-denies and refusals, with counts. */
  wouldDenyEdges: Map<string, number>;
  refusedEdges: Map<string, number>;
}

/** One decision as the status lines need it; `rule` is a rule name (`shop/orders#0`, `default`). */
export interface TalliedDecision {
  source: string;
  destination: string;
  effect: 'allow' | 'deny';
  enforced: boolean;
  rule: string;
}

export class Tally {
  allowed = 0;
  wouldDeny = 0;
  refused = 0;
  readonly wouldDenyEdges = new Map<string, number>();
  readonly refusedEdges = new Map<string, number>();

  /** A decision of a Node service (its SDK's decision-log entry). */
  record(entry: DecisionLogEntry): void {
    const rule = entry.rule === null ? 'default' : `${entry.rule.policy}#${entry.rule.index}`;
    this.count({ ...entry, rule });
  }

  /** A decision by name: also what the Python service reports of the agent's answers. */
  count(d: TalliedDecision): void {
    if (d.effect === 'allow') {
      this.allowed++;
      return;
    }
    const key = `${d.source} → ${d.destination} (${d.rule})`;
    const map = d.enforced ? this.refusedEdges : this.wouldDenyEdges;
    if (d.enforced) this.refused++;
    else this.wouldDeny++;
    map.set(key, (map.get(key) ?? 0) + 1);
  }
}
