/**
 * The WebGL drawing of the graph (sigma over graphology). Chosen for the large case: a thousand
 * services and ten thousand edges draw in one WebGL pass per frame, where a canvas renderer
 * strokes every edge (bench/console-graph.ts measures both). Labels and colours are data given
 * to sigma, drawn as text on the canvas: nothing from the graph ever becomes markup.
 */

import type { GraphViewV1 as GraphView } from '@ward/api-types/console';
import Graph from 'graphology';
import Sigma from 'sigma';
import { extremityArrow } from 'sigma/rendering';
import type { Position } from './layout.ts';
import { DIMMED, edgeColour, edgeKey, nodeColour } from './model.ts';

export interface Focus {
  /** Services and edges passing the filters (null: all). */
  nodes: ReadonlySet<string> | null;
  edges: ReadonlySet<string> | null;
  /** When set, everything outside it is dimmed (blast radius, a cycle, search hits). */
  lit: { nodes: ReadonlySet<string>; edges: ReadonlySet<string> } | null;
}

export interface GraphCanvas {
  setFocus(focus: Focus): void;
  kill(): void;
}

export function drawGraph(
  container: HTMLElement,
  view: GraphView,
  positions: Map<string, Position>,
  on: {
    node(id: string): void;
    edge(from: string, to: string): void;
    stage(): void;
    firstFrame(): void;
  },
): GraphCanvas {
  const graph = new Graph({ type: 'directed', multi: false, allowSelfLoops: false });
  // A large map pans with edges and labels hidden: on a CPU-rendered WebGL (no GPU) every edge
  // costs fill rate each frame (bench/console-graph.ts).
  const big = view.nodes.length > 300 || view.edges.length > 1_500;
  for (const n of view.nodes) {
    const p = positions.get(n.id)!;
    graph.addNode(n.id, {
      x: p.x,
      y: p.y,
      size: big ? (n.inCycle ? 7 : 3) : n.inCycle ? 12 : 10,
      color: nodeColour(n),
      label: n.name,
    });
  }
  for (const e of view.edges) {
    if (e.from === e.to || !graph.hasNode(e.from) || !graph.hasNode(e.to)) continue;
    graph.addDirectedEdgeWithKey(edgeKey(e), e.from, e.to, {
      size: big ? (e.startup ? 2 : 1) : e.startup ? 4 : 2,
      color: edgeColour(e),
    });
  }
  let focus: Focus = { nodes: null, edges: null, lit: null };
  const sigma = new Sigma(graph, container, {
    // Dependencies have a direction: on a small map every edge ends in an arrow at the callee.
    // A large one goes without (arrows doubled the first draw of 10,000 edges on SwiftShader,
    // and are unreadable there anyway; columns already put callees left of their callers).
    ...(big
      ? {}
      : { primitives: { edges: { extremities: [extremityArrow()], defaultHead: 'arrow' } } }),
    settings: {
      // A small map sizes nodes in screen pixels: sized in graph units (sigma 4's default), a
      // six-service map fitted to the canvas drew nodes a fifth of its height.
      ...(big ? {} : { itemSizesReference: 'screen' as const }),
      enableEdgeEvents: !big,
      hideEdgesOnMove: big,
      hideLabelsOnMove: big,
      renderEdgeLabels: false,
      // Room for the labels of the last column, which are drawn right of their nodes.
      stagePadding: 80,
      labelRenderedSizeThreshold: big ? 8 : 0,
    },
    nodeReducer: (key) => {
      if (focus.nodes && !focus.nodes.has(key)) return { visibility: 'hidden' };
      if (focus.lit && !focus.lit.nodes.has(key)) return { color: DIMMED, label: null };
      // Name the lit services when they are few enough to read.
      if (focus.lit)
        return focus.lit.nodes.size <= 60
          ? { labelVisibility: 'visible', zIndex: 1 }
          : { zIndex: 1 };
      // A small map names every service; a large one lets sigma pick labels that fit.
      return big ? {} : { labelVisibility: 'visible' };
    },
    edgeReducer: (key) => {
      if (focus.edges && !focus.edges.has(key)) return { visibility: 'hidden' };
      if (focus.lit && !focus.lit.edges.has(key)) return { color: DIMMED };
      if (focus.lit) return { size: 2, zIndex: 1 };
      return {};
    },
  });
  // Sigma's constructor processes the graph and draws the first frame synchronously; that frame
  // is on screen by the next animation frame.
  let frames = 1;
  container.dataset.frames = String(frames);
  requestAnimationFrame(() => on.firstFrame());
  sigma.on('afterRender', () => {
    frames++;
    // Frames drawn so far, for the benchmark's frame rate while panning (not rAF ticks: those
    // run whether or not anything was drawn).
    container.dataset.frames = String(frames);
  });
  sigma.on('clickNode', ({ node }) => on.node(node));
  sigma.on('clickEdge', ({ edge }) => {
    const [from, to] = [graph.source(edge), graph.target(edge)];
    on.edge(from, to);
  });
  sigma.on('clickStage', () => on.stage());
  return {
    setFocus(next) {
      focus = next;
      sigma.refresh({ skipIndexation: true });
    },
    kill() {
      sigma.kill();
    },
  };
}
