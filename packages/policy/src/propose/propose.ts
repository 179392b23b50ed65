/**
 * Policy from traffic: Intention documents, in dry-run, for the observed edges no rule covers.
 *
 * Why in `@ward/policy` (and not `@ward/graph`): the output is policy documents, checked against
 * this package's schema, and deciding "no rule covers this edge" needs the compiled policy's own
 * source matching (names, SPIFFE IDs, globs). The shells (server, CLI) gather the observations
 * and pass them in; this module does no I/O and its output depends only on its input.
 *
 * What it never does: propose for an edge some rule already names (allow or deny, either mode:
 * a deny is a decision someone made, and an allow on it would be overridden anyway); widen a
 * permission beyond what was observed except by the path-template collapse; name a source by a
 * pattern (an observed source that is not a plain service name or SPIFFE ID is skipped, so a
 * decision log claiming a caller `*` can never become `sources: ["*"]`).
 */

import { compileSource, type SourceMatcher, sourceMatches } from '../matchers.ts';
import {
  DEFAULT_NAMESPACE,
  isServiceKey,
  namespaceOfKey,
  serviceKey,
  serviceRefFrom,
  splitServiceKey,
} from '../namespace.ts';
import { spiffeIdProblem } from '../spiffe.ts';
import {
  API_VERSION,
  type IntentionDocument,
  type IntentionRule,
  type Permission,
  type PolicySet,
} from '../types.ts';
import { DEFAULT_DISTINCT_LIMIT, inferPathTemplates } from './path-templates.ts';

/** Calls seen with one method and path (a decision log's path template, or a raw path). */
export interface ObservedSample {
  method: string;
  path: string;
  count: number;
}

/** One observed edge over the window. */
export interface ObservedEdge {
  /** Service name or SPIFFE ID of the caller, as observed (resolved to a name when known). */
  source: string;
  destination: string;
  /** Calls counted on the edge (decisions, trace calls, wire samples). */
  calls: number;
  firstSeen: string;
  lastSeen: string;
  seenIn: readonly string[];
  /**
   * Method and path samples (decision logs). None — or any without a method or path (traces,
   * node agents, L4 decisions) — means the edge is known without L7 detail, and the proposed
   * permission is then the whole edge.
   */
  samples: readonly ObservedSample[];
}

export interface ProposeInput {
  edges: readonly ObservedEdge[];
  /** The stored documents, compiled: what is covered, owners, names already taken. */
  policy: PolicySet;
  since: string;
  until: string;
  /** More distinct values than this at one path position collapse to `*`. Default 16. */
  distinctLimit?: number;
  /**
   * Stored intentions that are proposals still under review (dry-run, written by propose). An
   * edge only their allow rules name is not closed: its observed calls they do not allow are
   * proposed again, in a document beside them.
   */
  reviewing?: ReadonlySet<string>;
}

/** What one observed caller contributed to a proposed rule. */
export interface ProposalEvidence {
  source: string;
  calls: number;
  firstSeen: string;
  lastSeen: string;
  seenIn: string[];
}

export interface ProposedRule {
  sources: string[];
  /** True when the rule has no permissions: some calls were seen without method and path. */
  wholeEdge: boolean;
  evidence: ProposalEvidence[];
}

export interface Proposal {
  destination: string;
  /** The destination's owner from its Service document (`spec.owner`, else label `owner`). */
  owner: string | null;
  document: IntentionDocument;
  /** Evidence per rule, in the order of `document.spec.rules`. */
  rules: ProposedRule[];
}

export interface SkippedEdge {
  source: string;
  destination: string;
  reason: string;
}

export interface ProposeResult {
  since: string;
  until: string;
  proposals: Proposal[];
  skipped: SkippedEdge[];
}

/** The annotation on every proposal (`traffic <since>/<until>`); in dry-run, one under review. */
export const PROPOSED_ANNOTATION = 'ward.dev/proposed-from';

const METHOD = /^[A-Za-z][A-Za-z0-9-]{0,31}$/;
const MAX_PATHS = 100;
const MAX_PERMISSIONS = 100;
const MAX_MATCH = 2048;
/** A policy glob refuses whitespace and control characters; a canonical path never has them. */
const UNWRITABLE = /[\s\u0000-\u001f\u007f-\u009f]/;

/** Upper case, and HEAD as GET: as the engine decides it. */
const canonicalMethod = (m: string) => (m.toUpperCase() === 'HEAD' ? 'GET' : m.toUpperCase());

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Why `source` cannot be written as a rule source (a pattern, or not a name or SPIFFE ID). */
function sourceProblem(source: string): string | undefined {
  if (source.includes('*')) return 'the observed caller is a pattern, not a service';
  if (source.startsWith('spiffe://')) return spiffeIdProblem(source);
  if (!isServiceKey(source)) return 'the observed caller is not a service name';
  return undefined;
}

/**
 * A proposal's document name: `<destination>-proposed` in the destination's namespace, made
 * unique among `taken` (intention keys).
 */
function documentName(destination: string, taken: Set<string>): string {
  const { namespace, name: base } = splitServiceKey(destination);
  for (let i = 1; ; i++) {
    const suffix = i === 1 ? '-proposed' : `-proposed-${i}`;
    const name = `${base.slice(0, 63 - suffix.length).replace(/-+$/, '')}${suffix}`;
    const key = serviceKey(namespace, name);
    if (!taken.has(key)) {
      taken.add(key);
      return name;
    }
  }
}

interface EdgeWork {
  edge: ObservedEdge;
  /** Upper-case methods (HEAD decided as GET) per observed path; undefined: the whole edge. */
  calls: Map<string, Set<string>> | undefined;
}

/** Permissions from (path → methods): templates, then one `http` permission per method set. */
function permissions(
  calls: Map<string, Set<string>>,
  templateOf: Map<string, { pattern: string; glob: boolean }>,
): Permission[] | undefined {
  const methodsOf = new Map<string, { glob: boolean; methods: Set<string> }>();
  for (const [path, methods] of calls) {
    const t = templateOf.get(path)!;
    let entry = methodsOf.get(t.pattern);
    if (entry === undefined) {
      entry = { glob: t.glob, methods: new Set() };
      methodsOf.set(t.pattern, entry);
    }
    for (const m of methods) entry.methods.add(m);
  }
  const byMethods = new Map<
    string,
    { methods: string[]; paths: { pattern: string; glob: boolean }[] }
  >();
  for (const [pattern, { glob, methods }] of methodsOf) {
    const list = [...methods].sort(cmp);
    const key = list.join(',');
    let g = byMethods.get(key);
    if (g === undefined) {
      g = { methods: list, paths: [] };
      byMethods.set(key, g);
    }
    g.paths.push({ pattern, glob });
  }
  const out: Permission[] = [];
  for (const key of [...byMethods.keys()].sort(cmp)) {
    const g = byMethods.get(key)!;
    g.paths.sort((a, b) => cmp(a.pattern, b.pattern));
    for (let i = 0; i < g.paths.length; i += MAX_PATHS) {
      out.push({
        http: {
          methods: g.methods,
          paths: g.paths
            .slice(i, i + MAX_PATHS)
            .map((p) => (p.glob ? { glob: p.pattern } : { exact: p.pattern })),
        },
      });
    }
  }
  return out.length > MAX_PERMISSIONS ? undefined : out;
}

function evidenceText(e: readonly ProposalEvidence[]): string {
  const calls = e.reduce((n, x) => n + x.calls, 0);
  const first = e.map((x) => x.firstSeen).sort(cmp)[0]!;
  const last = e.map((x) => x.lastSeen).sort(cmp)[e.length - 1]!;
  const seen = [...new Set(e.flatMap((x) => x.seenIn))].sort(cmp).join(', ');
  return `proposed from traffic: ${calls} calls from ${first} to ${last} (${seen})`;
}

/** The proposals for `input.edges`; deterministic (sorted) whatever the input order. */
export function proposeIntentions(input: ProposeInput): ProposeResult {
  const { policy } = input;
  const skipped: SkippedEdge[] = [];
  const taken = new Set(policy.rules().map((r) => r.ref.policy));
  const matchers = new Map<
    string,
    { sources: SourceMatcher[]; rule: string; action: string; reviewing: boolean }[]
  >();
  const rulesOn = (destination: string) => {
    let list = matchers.get(destination);
    if (list === undefined) {
      list = policy.rules(destination).map((r) => ({
        // An intention lives in its destination's namespace: its sources are relative to it.
        sources: r.sources.map((text) => compileSource(text, namespaceOfKey(destination))),
        rule: `${r.ref.policy}#${r.ref.index}`,
        action: r.ref.action,
        reviewing:
          r.ref.action === 'allow' &&
          r.ref.mode === 'dry-run' &&
          (input.reviewing?.has(r.ref.policy) ?? false),
      }));
      matchers.set(destination, list);
    }
    return list;
  };

  const work = new Map<string, EdgeWork[]>();
  for (const edge of input.edges) {
    const skip = (reason: string) =>
      skipped.push({ source: edge.source, destination: edge.destination, reason });
    if (edge.source === edge.destination) continue;
    if (!isServiceKey(edge.destination)) {
      skip('the destination is not a service name');
      continue;
    }
    const problem = sourceProblem(edge.source);
    if (problem !== undefined) {
      skip(problem);
      continue;
    }
    const spiffe = edge.source.startsWith('spiffe://');
    const name = spiffe ? policy.serviceBySpiffeId(edge.source)?.name : edge.source;
    const id = spiffe ? edge.source : policy.services.get(edge.source)?.spiffeId;
    const covering = rulesOn(edge.destination).filter((r) =>
      r.sources.some((m) => sourceMatches(m, name, id)),
    );
    let samples = edge.samples;
    if (covering.length > 0) {
      // Only proposals still under review name the edge: the calls they do not allow are
      // proposed beside them (the next round of the loop); any other rule closes the edge.
      if (covering.every((r) => r.reviewing)) {
        const source = spiffe ? { spiffeId: edge.source } : { service: edge.source };
        samples = samples.filter(
          (s) =>
            s.method !== '' &&
            s.path !== '' &&
            policy.decide({
              destination: edge.destination,
              source,
              request: { method: canonicalMethod(s.method), path: s.path, headers: {} },
            }).effect !== 'allow',
        );
      } else samples = [];
      if (samples.length === 0) {
        skip(`already covered by ${covering[0]!.rule} (${covering[0]!.action})`);
        continue;
      }
    }
    const calls = new Map<string, Set<string>>();
    let wholeEdge = samples.length === 0;
    let unreadable = false;
    for (const s of samples) {
      if (s.method === '' || s.path === '') {
        wholeEdge = true;
        continue;
      }
      if (
        !METHOD.test(s.method) ||
        !s.path.startsWith('/') ||
        s.path.length > MAX_MATCH ||
        UNWRITABLE.test(s.path)
      ) {
        unreadable = true;
        break;
      }
      const method = canonicalMethod(s.method);
      let set = calls.get(s.path);
      if (set === undefined) {
        set = new Set();
        calls.set(s.path, set);
      }
      set.add(method);
    }
    // Allowing the whole edge instead would widen beyond what was seen: leave it to a person.
    if (unreadable) {
      skip('an observed method or path cannot be written in a rule');
      continue;
    }
    let list = work.get(edge.destination);
    if (list === undefined) {
      list = [];
      work.set(edge.destination, list);
    }
    list.push({ edge, calls: wholeEdge ? undefined : calls });
  }

  const proposals: Proposal[] = [];
  for (const destination of [...work.keys()].sort(cmp)) {
    const edges = work.get(destination)!;
    // Templates are inferred over every caller's paths, so callers share templates.
    const allPaths = edges.flatMap((w) => (w.calls ? [...w.calls.keys()] : []));
    const templateOf = new Map<string, { pattern: string; glob: boolean }>();
    for (const t of inferPathTemplates(allPaths, {
      distinctLimit: input.distinctLimit ?? DEFAULT_DISTINCT_LIMIT,
    })) {
      for (const p of t.paths) templateOf.set(p, { pattern: t.pattern, glob: t.glob });
    }
    // Callers with the same permissions share one rule.
    const groups = new Map<
      string,
      { perms: Permission[] | undefined; evidence: ProposalEvidence[] }
    >();
    for (const w of edges) {
      const perms = w.calls ? permissions(w.calls, templateOf) : undefined;
      if (w.calls && perms === undefined) {
        skipped.push({
          source: w.edge.source,
          destination,
          reason: `more than ${MAX_PERMISSIONS * MAX_PATHS} distinct endpoints`,
        });
        continue;
      }
      const key = perms ? JSON.stringify(perms) : '';
      let g = groups.get(key);
      if (g === undefined) {
        g = { perms, evidence: [] };
        groups.set(key, g);
      }
      g.evidence.push({
        source: w.edge.source,
        calls: w.edge.calls,
        firstSeen: w.edge.firstSeen,
        lastSeen: w.edge.lastSeen,
        seenIn: [...w.edge.seenIn].sort(cmp),
      });
    }
    if (groups.size === 0) continue;
    const rules: IntentionRule[] = [];
    const evidence: ProposedRule[] = [];
    for (const g of groups.values()) g.evidence.sort((a, b) => cmp(a.source, b.source));
    // By first caller, then permissions (the same caller listed twice in the input may land
    // in two groups): a total order, whatever the input order.
    const ordered = [...groups.entries()].sort(
      ([ka, a], [kb, b]) => cmp(a.evidence[0]!.source, b.evidence[0]!.source) || cmp(ka, kb),
    );
    const namespace = namespaceOfKey(destination);
    for (const [, g] of ordered) {
      const sources = g.evidence.map((e) => e.source);
      rules.push({
        // Written relative to the document's namespace (a SPIFFE ID is written as it is).
        sources: sources.map((s) => (s.startsWith('spiffe://') ? s : serviceRefFrom(s, namespace))),
        action: 'allow',
        ...(g.perms ? { permissions: g.perms } : {}),
        description: evidenceText(g.evidence).slice(0, 1024),
      });
      evidence.push({ sources, wholeEdge: g.perms === undefined, evidence: g.evidence });
    }
    const service = policy.services.get(destination);
    const owner = service?.owner ?? service?.labels.owner ?? null;
    const document: IntentionDocument = {
      apiVersion: API_VERSION,
      kind: 'Intention',
      metadata: {
        name: documentName(destination, taken),
        ...(namespace !== DEFAULT_NAMESPACE ? { namespace } : {}),
        ...(owner !== null ? { labels: { owner } } : {}),
        annotations: { [PROPOSED_ANNOTATION]: `traffic ${input.since}/${input.until}` },
      },
      spec: { destination: splitServiceKey(destination).name, mode: 'dry-run', rules },
    };
    proposals.push({ destination, owner, document, rules: evidence });
  }
  skipped.sort((a, b) => cmp(a.destination, b.destination) || cmp(a.source, b.source));
  return { since: input.since, until: input.until, proposals, skipped };
}
