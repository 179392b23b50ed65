/**
 * The dependency cycle the demo shows: finding cycles and saying how to break them is a headline
 * feature, so the banner reads the control plane's own map (`GET /v1/graph`, the analysis
 * `ward graph analyze` prints) and shows the first cycle with its cheapest fix. The demo's
 * services declare one on purpose (examples/demo/services.yaml: orders ⇄ notifications at
 * startup).
 */

/** The parts of the graph report (`ward.dev/graph/v1`) the banner uses. */
interface GraphReport {
  analysis: {
    breakSuggestions: {
      component: string[];
      cuts: { from: string; to: string; breaks: string[]; explanation: string }[];
      supernode: { explanation: string };
    }[];
    bootOrder: { blocked: { service: string }[] };
  };
}

export interface DemoCycle {
  /** The cycle, from a service back to itself. */
  path: string[];
  /** Whether it blocks a cold start (every edge a startup edge). */
  startup: boolean;
  /** The cheapest way out, as the analysis explains it. */
  fix: string;
}

/** The first cycle of the control plane's graph with its fix, or undefined when it has none. */
export async function dependencyCycle(
  admin: <T>(method: string, path: string) => Promise<T>,
): Promise<DemoCycle | undefined> {
  const { analysis } = await admin<GraphReport>('GET', '/v1/graph');
  const suggestion = analysis.breakSuggestions[0];
  if (suggestion === undefined) return undefined;
  const cut = suggestion.cuts[0];
  return {
    path: cut?.breaks ?? [...suggestion.component, suggestion.component[0]!],
    startup: analysis.bootOrder.blocked.some((b) => suggestion.component.includes(b.service)),
    fix: cut?.explanation ?? suggestion.supernode.explanation,
  };
}
