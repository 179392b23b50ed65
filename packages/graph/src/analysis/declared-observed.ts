/**
 * Declared versus observed: edges seen in traffic that nothing declared (unapproved) and edges
 * declared that traffic never showed (unused). Each side is only judged when the other kind of
 * input is present: with no traces, every declared edge would look unused.
 */
import type { DependencyGraph, Edge } from '../model.ts';

export interface EdgeRef {
  from: string;
  to: string;
  kind: Edge['kind'];
}

export interface DeclaredVsObserved {
  /** False when the inputs had no declared or no observed edges; then both lists are empty. */
  compared: boolean;
  unapproved: (EdgeRef & { calls: number; denied: number })[];
  unused: EdgeRef[];
}

export function declaredVsObserved(graph: DependencyGraph): DeclaredVsObserved {
  const anyDeclared = graph.edges.some((e) => e.provenance !== 'observed');
  const anyObserved = graph.edges.some((e) => e.provenance !== 'declared');
  if (!anyDeclared || !anyObserved) return { compared: false, unapproved: [], unused: [] };
  return {
    compared: true,
    unapproved: graph.edges
      .filter((e) => e.provenance === 'observed')
      .map((e) => ({
        from: e.from,
        to: e.to,
        kind: e.kind,
        calls: e.metrics?.calls ?? 0,
        denied: e.metrics?.denied ?? 0,
      })),
    unused: graph.edges
      .filter((e) => e.provenance === 'declared')
      .map((e) => ({ from: e.from, to: e.to, kind: e.kind })),
  };
}
