/**
 * Graph: every service and dependency the control plane knows, drawn with WebGL (sigma) in boot
 * waves, cycles in red, edges coloured by state. Selecting a service lights its blast radius;
 * selecting an edge opens its details. The side panel lists cycles, search hits and the selected
 * service's edges as buttons, so everything the canvas offers is also reachable by keyboard.
 */
import {
  EDGE_STATES,
  type EdgeStateV1 as EdgeState,
  type GraphViewV1 as View,
  type GraphViewEdgeV1 as ViewEdge,
} from '@ward/api-types/console';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiProblem } from '../api.ts';
import type { ViewProps } from '../app.tsx';
import { layout } from '../graph/layout.ts';
import {
  ALL_STATES,
  type BlastRadius,
  blastRadius,
  choices,
  EDGE_COLOURS,
  edgeKey,
  type Filters,
  NODE_COLOURS,
  type Selection,
  search,
  selectionOf,
  visible,
} from '../graph/model.ts';
import { drawGraph, type GraphCanvas } from '../graph/renderer.ts';
import { navigate } from '../route.ts';
import { Check, Choice } from '../ui/controls.tsx';

function select(s: Selection): void {
  if (s === null) navigate('graph');
  else if (s.kind === 'node') navigate('graph', { node: s.id });
  else if (s.kind === 'edge') navigate('graph', { edge: edgeKey(s) });
  else navigate('graph', { cycle: String(s.index) });
}

export function GraphView({ api, params }: ViewProps) {
  const [view, setView] = useState<View | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [since, setSince] = useState('7d');
  useEffect(() => {
    const abort = new AbortController();
    setView(null);
    setError(null);
    api
      .get<View>(`/v1/graph/view?since=${encodeURIComponent(since)}`, abort.signal)
      .then(setView)
      .catch((e) => {
        if (!abort.signal.aborted)
          setError(e instanceof ApiProblem ? e.message : 'the control plane did not answer');
      });
    return () => abort.abort();
  }, [api, since]);
  if (error)
    return (
      <p class="error" role="alert">
        {error}
      </p>
    );
  if (!view) return <p class="muted">Loading the graph…</p>;
  return <GraphExplorer view={view} query={params.toString()} since={since} onSince={setSince} />;
}

/** Observation windows offered (declared edges show whatever the window). */
const WINDOWS = ['1h', '24h', '7d', '30d'];

/** The filters over a service field: the field and its caption. */
const FIELD_FILTERS = [
  ['namespace', 'Namespace'],
  ['team', 'Team'],
] as const;

/** A filter's choices: `all` (the empty value), then each value. */
const allOr = (values: string[]): [string, string][] => [
  ['', 'all'],
  ...values.map((v): [string, string] => [v, v]),
];

function GraphExplorer({
  view,
  query: route,
  since,
  onSince,
}: {
  view: View;
  query: string;
  since: string;
  onSince: (since: string) => void;
}) {
  // Keyed on the query text: the same selection object until the URL changes.
  const selection = useMemo(() => selectionOf(new URLSearchParams(route)), [route]);
  const [filters, setFilters] = useState<Filters>({ namespace: '', team: '', states: ALL_STATES });
  const setSelection = select;
  const [query, setQuery] = useState('');
  const container = useRef<HTMLDivElement>(null);
  const canvas = useRef<GraphCanvas | null>(null);
  const positions = useMemo(() => layout(view), [view]);
  const shown = useMemo(() => visible(view, filters), [view, filters]);
  const edgeByKey = useMemo(() => new Map(view.edges.map((e) => [edgeKey(e), e])), [view]);
  const radius = useMemo<BlastRadius | null>(
    () => (selection?.kind === 'node' ? blastRadius(view, selection.id, shown.edges) : null),
    [view, selection, shown],
  );

  useEffect(() => {
    const el = container.current;
    if (!el) return;
    const started = performance.now();
    canvas.current = drawGraph(el, view, positions, {
      node: (id) => setSelection({ kind: 'node', id }),
      edge: (from, to) => setSelection({ kind: 'edge', from, to }),
      stage: () => setSelection(null),
      firstFrame: () => {
        // Read by the benchmark and the browser tests: when the first frame with every
        // service was drawn (ms after the canvas was created, and after navigation start).
        el.dataset.rendered = String(view.nodes.length);
        el.dataset.renderMs = String(Math.round(performance.now() - started));
        el.dataset.paintedAt = String(Math.round(performance.now()));
      },
    });
    return () => {
      canvas.current?.kill();
      canvas.current = null;
    };
  }, [view, positions]);

  useEffect(() => {
    let lit: { nodes: Set<string>; edges: Set<string> } | null = null;
    if (selection?.kind === 'node' && radius)
      lit = {
        nodes: new Set([selection.id, ...radius.dependents, ...radius.dependencies]),
        edges: radius.edges,
      };
    else if (selection?.kind === 'edge')
      lit = {
        nodes: new Set([selection.from, selection.to]),
        edges: new Set([edgeKey(selection)]),
      };
    else if (selection?.kind === 'cycle') {
      const members = view.cycles[selection.index] ?? [];
      const edges = new Set<string>();
      members.forEach((m, i) => {
        edges.add(edgeKey({ from: m, to: members[(i + 1) % members.length]! }));
      });
      lit = { nodes: new Set(members), edges };
    }
    const all = filters.namespace === '' && filters.team === '' && filters.states.size === 5;
    canvas.current?.setFocus({
      nodes: all ? null : shown.nodes,
      edges: all ? null : shown.edges,
      lit,
    });
  }, [selection, radius, shown, filters, view]);

  const hits = useMemo(() => search(view, query), [view, query]);
  const selectedEdge = selection?.kind === 'edge' ? edgeByKey.get(edgeKey(selection)) : undefined;

  return (
    <div class="graph-view" data-testid="graph-view">
      <div class="graph-toolbar">
        <Choice
          caption="Observed in"
          testid="graph-since"
          value={since}
          onChange={onSince}
          choices={WINDOWS.map((w) => [w, `last ${w}`] as const)}
        />
        {FIELD_FILTERS.map(([field, caption]) => (
          <Choice
            key={field}
            caption={caption}
            testid={`graph-${field}`}
            value={filters[field]}
            onChange={(value) => setFilters({ ...filters, [field]: value })}
            choices={allOr(choices(view, field))}
          />
        ))}
        {EDGE_STATES.map((s) => (
          <Check
            key={s}
            class="graph-state"
            testid={`graph-state-${s}`}
            checked={filters.states.has(s)}
            onChange={(on) => {
              const next = new Set<EdgeState>(filters.states);
              if (on) next.add(s);
              else next.delete(s);
              setFilters({ ...filters, states: next });
            }}
          >
            {s}
          </Check>
        ))}
        <input
          type="search"
          placeholder="Find a service"
          data-testid="graph-search"
          value={query}
          onInput={(e) => setQuery((e.target as HTMLInputElement).value)}
        />
      </div>
      <div class="graph-body">
        <div class="graph-canvas" ref={container} data-testid="graph-canvas" />
        <aside class="graph-side">
          <p class="muted" data-testid="graph-summary">
            {shown.nodes.size} of {view.totals.services} services, {shown.edges.size} of{' '}
            {view.totals.edges} edges
            {view.truncated && (
              <strong class="error" data-testid="graph-truncated">
                {' '}
                — truncated: the graph is larger than one view
              </strong>
            )}
          </p>
          {hits.length > 0 && (
            <ul class="graph-list" data-testid="graph-hits">
              {hits.map((n) => (
                <li key={n.id}>
                  <button
                    type="button"
                    class="link"
                    onClick={() => setSelection({ kind: 'node', id: n.id })}
                  >
                    {n.name}
                  </button>
                </li>
              ))}
            </ul>
          )}
          {selection?.kind === 'node' && radius && (
            <NodePanel view={view} id={selection.id} radius={radius} select={setSelection} />
          )}
          {selection?.kind === 'edge' && selectedEdge && <EdgePanel edge={selectedEdge} />}
          <Cycles view={view} select={setSelection} selection={selection} />
          <Legend />
        </aside>
      </div>
    </div>
  );
}

function Cycles(props: { view: View; selection: Selection; select: (s: Selection) => void }) {
  const { cycles } = props.view;
  return (
    <section data-testid="graph-cycles">
      <h3>Cycles ({cycles.length})</h3>
      {cycles.length === 0 && <p class="muted">None.</p>}
      <ul class="graph-list">
        {cycles.slice(0, 50).map((c, i) => (
          <li key={c.join('\u0000')}>
            <button
              type="button"
              class={`link graph-cycle${props.selection?.kind === 'cycle' && props.selection.index === i ? ' active' : ''}`}
              data-testid="graph-cycle"
              onClick={() => props.select({ kind: 'cycle', index: i })}
            >
              {[...c, c[0]].join(' → ')}
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}

function NodePanel(props: {
  view: View;
  id: string;
  radius: BlastRadius;
  select: (s: Selection) => void;
}) {
  const node = props.view.nodes.find((n) => n.id === props.id);
  if (!node) return null;
  const touching = props.view.edges.filter((e) => e.from === node.id || e.to === node.id);
  return (
    <section class="graph-panel" data-testid="graph-node-panel">
      <h3>{node.name}</h3>
      <dl>
        <dt>Namespace</dt>
        <dd>{node.namespace ?? '—'}</dd>
        <dt>Team</dt>
        <dd>{node.team ?? '—'}</dd>
        <dt>Boot wave</dt>
        <dd>{node.wave ?? 'blocked at cold start'}</dd>
        <dt>Kind</dt>
        <dd>{node.kind}</dd>
      </dl>
      <h4>Blast radius</h4>
      <p data-testid="graph-dependents">
        Depend on it ({props.radius.dependents.length}):{' '}
        {props.radius.dependents.slice(0, 100).join(', ') || 'none'}
      </p>
      <p data-testid="graph-dependencies">
        It depends on ({props.radius.dependencies.length}):{' '}
        {props.radius.dependencies.slice(0, 100).join(', ') || 'none'}
      </p>
      <h4>Edges</h4>
      <ul class="graph-list">
        {touching.slice(0, 200).map((e) => (
          <li key={edgeKey(e)}>
            <button
              type="button"
              class="link"
              data-testid="graph-edge-link"
              onClick={() => props.select({ kind: 'edge', from: e.from, to: e.to })}
            >
              {e.from} → {e.to}
            </button>{' '}
            <span class="muted">{e.states.join(', ')}</span>
          </li>
        ))}
      </ul>
    </section>
  );
}

function EdgePanel({ edge }: { edge: ViewEdge }) {
  const yesNo = (v: boolean | null) => (v === null ? 'unknown' : v ? 'yes' : 'no');
  return (
    <section class="graph-panel" data-testid="graph-edge-panel">
      <h3>
        {edge.from} → {edge.to}
      </h3>
      <dl>
        <dt>States</dt>
        <dd data-testid="graph-edge-states">{edge.states.join(', ')}</dd>
        <dt>Kind</dt>
        <dd>{edge.startup ? 'startup' : 'runtime'}</dd>
        <dt>Calls</dt>
        <dd data-testid="graph-edge-calls">{edge.calls}</dd>
        <dt>Errors</dt>
        <dd>{edge.errors}</dd>
        <dt>Denied</dt>
        <dd data-testid="graph-edge-denied">{edge.denied}</dd>
        <dt>Dry-run denied</dt>
        <dd>{edge.dryRunDenied}</dd>
        <dt>First seen</dt>
        <dd>{edge.firstSeen ?? '—'}</dd>
        <dt>Last seen</dt>
        <dd>{edge.lastSeen ?? '—'}</dd>
        <dt>Deciding rule</dt>
        <dd data-testid="graph-edge-rule">{edge.rule ?? '—'}</dd>
        <dt>Protocol</dt>
        <dd>
          {edge.protocol ?? 'unknown'}
          {edge.ports.length > 0 ? ` (ports ${edge.ports.join(', ')})` : ''}
        </dd>
        <dt>mTLS</dt>
        <dd>{yesNo(edge.mtls)}</dd>
      </dl>
    </section>
  );
}

function Legend() {
  return (
    <section data-testid="graph-legend">
      <h3>Legend</h3>
      <ul class="graph-legend">
        {EDGE_COLOURS.map((c) => (
          <li key={c.state}>
            <svg width="24" height="8" aria-hidden="true">
              <line x1="0" y1="4" x2="24" y2="4" stroke={c.colour} stroke-width="3" />
            </svg>{' '}
            {c.label}
          </li>
        ))}
        <li>
          <svg width="24" height="10" aria-hidden="true">
            <circle cx="12" cy="5" r="5" fill={NODE_COLOURS.cycle} />
          </svg>{' '}
          in a cycle
        </li>
        <li>
          <svg width="24" height="10" aria-hidden="true">
            <circle cx="12" cy="5" r="5" fill={NODE_COLOURS.service} />
          </svg>{' '}
          service (columns: boot waves, left starts first)
        </li>
        <li>Thick edge: startup dependency</li>
      </ul>
    </section>
  );
}
