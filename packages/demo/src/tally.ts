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

export class Tally {
  allowed = 0;
  wouldDeny = 0;
  refused = 0;
  readonly wouldDenyEdges = new Map<string, number>();
  readonly refusedEdges = new Map<string, number>();

  record(entry: DecisionLogEntry): void {
    if (entry.effect === 'allow') {
      this.allowed++;
      return;
    }
    const rule = entry.rule === null ? 'default' : `${entry.rule.policy}#${entry.rule.index}`;
    const key = `${entry.source} → ${entry.destination} (${rule})`;
    const map = entry.enforced ? this.refusedEdges : this.wouldDenyEdges;
    if (entry.enforced) this.refused++;
    else this.wouldDeny++;
    map.set(key, (map.get(key) ?? 0) + 1);
  }
}
