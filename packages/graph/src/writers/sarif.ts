/**
 * SARIF 2.1.0 for code-scanning UIs: one result per finding, located at the declaration that
 * created the edge (file and line) when there is one, else at the input file that showed it.
 */
import type { AnalysisReport } from '../analysis/analyze.ts';
import type { CheckResult } from '../analysis/check.ts';
import type { DependencyGraph, Edge, SourceRef } from '../model.ts';

const RULES = [
  {
    id: 'ward.graph.cycle',
    name: 'DependencyCycle',
    level: 'error',
    text: 'Services depend on each other in a cycle.',
  },
  {
    id: 'ward.graph.cold-start',
    name: 'ColdStartBlocked',
    level: 'error',
    text: 'A service can never start from cold: it waits on a startup cycle.',
  },
  {
    id: 'ward.graph.repair-tool',
    name: 'RepairToolDependsOnWatched',
    level: 'error',
    text: 'A repair or monitoring tool depends on what it repairs or monitors.',
  },
  {
    id: 'ward.graph.layering',
    name: 'LayeringViolation',
    level: 'error',
    text: 'A dependency breaks a layering rule.',
  },
  {
    id: 'ward.graph.unapproved-edge',
    name: 'UnapprovedDependency',
    level: 'warning',
    text: 'A dependency was observed that nothing declares.',
  },
  {
    id: 'ward.graph.unused-edge',
    name: 'UnusedDependency',
    level: 'note',
    text: 'A declared dependency was never observed.',
  },
] as const;

type RuleId = (typeof RULES)[number]['id'];

interface SarifResult {
  ruleId: RuleId;
  ruleIndex: number;
  level: string;
  message: { text: string };
  locations?: unknown[];
  partialFingerprints: Record<string, string>;
}

function uri(file: string): string {
  return encodeURI(file.replace(/\\/g, '/'));
}

function locations(refs: SourceRef[]): unknown[] {
  const seen = new Set<string>();
  const out: unknown[] = [];
  const sorted = [...refs].sort(
    (a, b) => (a.line === undefined ? 1 : 0) - (b.line === undefined ? 1 : 0),
  );
  for (const r of sorted) {
    const key = `${r.file}:${r.line ?? ''}`;
    if (seen.has(key) || r.file.startsWith('POST ')) continue;
    seen.add(key);
    const physicalLocation: Record<string, unknown> = { artifactLocation: { uri: uri(r.file) } };
    if (r.line !== undefined) physicalLocation.region = { startLine: r.line };
    out.push({ physicalLocation });
    if (out.length >= 5) break;
  }
  return out;
}

/** Where each edge of `graph` was found, by its ends. */
function edgeRefs(graph: DependencyGraph): (from: string, to: string) => SourceRef[] {
  const edges = new Map<string, Edge>();
  for (const e of graph.edges) edges.set(`${e.from}\u0000${e.to}`, e);
  return (from, to) => edges.get(`${from}\u0000${to}`)?.sources ?? [];
}

/** Collects results; `log()` wraps them in one SARIF run. */
function sarifResults(): {
  add: (
    ruleId: RuleId,
    text: string,
    refs: SourceRef[],
    fingerprint: string,
    level?: string,
  ) => void;
  log: (toolVersion: string) => string;
} {
  const results: SarifResult[] = [];
  const add = (
    ruleId: RuleId,
    text: string,
    refs: SourceRef[],
    fingerprint: string,
    level?: string,
  ): void => {
    const ruleIndex = RULES.findIndex((r) => r.id === ruleId);
    const result: SarifResult = {
      ruleId,
      ruleIndex,
      level: level ?? RULES[ruleIndex]!.level,
      message: { text },
      partialFingerprints: { wardGraphFinding: fingerprint },
    };
    const locs = locations(refs);
    if (locs.length > 0) result.locations = locs;
    results.push(result);
  };
  return { add, log: (toolVersion) => sarifLog(results, toolVersion) };
}

/**
 * The CI gate's findings (`ward graph check -o sarif`). A new cycle is located at the
 * declaration of the edge(s) that closed it — those the baseline did not have — never at an
 * edge that was already approved.
 */
export function checkToSarif(
  graph: DependencyGraph,
  result: CheckResult,
  toolVersion = '0.1.0',
): string {
  const refsOf = edgeRefs(graph);
  const { add, log } = sarifResults();
  for (const c of result.newCycles) {
    const closing: { from: string; to: string; sources?: SourceRef[] }[] =
      c.newEdges.length > 0 ? c.newEdges : [c.edge];
    add(
      'ward.graph.cycle',
      `New dependency cycle ${c.cycle.join(' → ')}, closed by ${closing.map((e) => `${e.from} → ${e.to}`).join(', ')} (not in the baseline).`,
      closing.flatMap((e) => e.sources ?? refsOf(e.from, e.to)),
      `cycle:${closing.map((e) => `${e.from}>${e.to}`).join(',')}`,
    );
  }
  for (const u of result.newUnapproved) {
    add(
      'ward.graph.unapproved-edge',
      `${u.from} → ${u.to} was observed (${u.calls} calls) but neither the inputs nor the baseline declare it.`,
      refsOf(u.from, u.to),
      `unapproved:${u.from}:${u.to}`,
    );
  }
  for (const v of result.newViolations) {
    add(
      'ward.graph.layering',
      v.message,
      refsOf(v.from, v.to),
      `layering:${v.rule}:${v.from}:${v.to}`,
    );
  }
  return log(toolVersion);
}

export function toSarif(
  graph: DependencyGraph,
  report: AnalysisReport,
  toolVersion = '0.1.0',
): string {
  const refsOf = edgeRefs(graph);
  const { add, log } = sarifResults();
  for (const b of report.breakSuggestions) {
    const cycle = report.cycles.find((c) => b.component.includes(c.services[0]!));
    const path = cycle ? [...cycle.services, cycle.services[0]!] : b.component;
    const refs: SourceRef[] = [];
    for (let i = 0; i + 1 < path.length; i++) refs.push(...refsOf(path[i]!, path[i + 1]!));
    const cut = b.cuts[0];
    add(
      'ward.graph.cycle',
      `Dependency cycle ${path.join(' → ')} (component of ${b.component.length} service(s)).${cut ? ` Cheapest fix: ${cut.explanation}` : ''}`,
      refs,
      `cycle:${b.component.join(',')}`,
    );
  }
  for (const blocked of report.bootOrder.blocked) {
    const refs = blocked.cycle
      ? refsOf(blocked.cycle[0]!, blocked.cycle[1]!)
      : refsOf(blocked.service, blocked.waitsFor ?? '');
    add(
      'ward.graph.cold-start',
      `${blocked.service} can never start cold: ${blocked.reason}.`,
      refs,
      `cold-start:${blocked.service}`,
    );
  }
  for (const f of report.repairTools) {
    add(
      'ward.graph.repair-tool',
      f.explanation,
      refsOf(f.path[0]!, f.path[1] ?? ''),
      `repair-tool:${f.service}:${f.path.join(',')}`,
    );
  }
  for (const v of report.layering.violations) {
    add(
      'ward.graph.layering',
      v.message,
      refsOf(v.from, v.to),
      `layering:${v.rule}:${v.from}:${v.to}`,
      v.severity === 'warning' ? 'warning' : 'error',
    );
  }
  for (const u of report.declaredVsObserved.unapproved) {
    add(
      'ward.graph.unapproved-edge',
      `${u.from} → ${u.to} was observed (${u.calls} calls${u.denied ? `, ${u.denied} denied` : ''}) but no input declares it.`,
      refsOf(u.from, u.to),
      `unapproved:${u.from}:${u.to}`,
    );
  }
  for (const u of report.declaredVsObserved.unused) {
    add(
      'ward.graph.unused-edge',
      `${u.from} → ${u.to} is declared (${u.kind}) but was never observed.`,
      refsOf(u.from, u.to),
      `unused:${u.from}:${u.to}`,
    );
  }
  return log(toolVersion);
}

function sarifLog(results: SarifResult[], toolVersion: string): string {
  const log = {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'ward-graph',
            version: toolVersion,
            informationUri: 'https://ward.dev/docs/graph',
            rules: RULES.map((r) => ({
              id: r.id,
              name: r.name,
              shortDescription: { text: r.text },
              defaultConfiguration: { level: r.level },
            })),
          },
        },
        results,
      },
    ],
  };
  return `${JSON.stringify(log, null, 2)}\n`;
}
