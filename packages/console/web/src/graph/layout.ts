/**
 * Places the services without a force simulation, so a thousand services lay out in
 * milliseconds and the same graph always looks the same: boot waves are the major columns
 * (x grows with the wave; services that cannot start cold come last), and inside a wave the
 * dependency depth splits columns so callees stand left of their callers. Members of one cycle
 * share a column and sit together. Within a column, a few barycentric sweeps order services by
 * the mean position of their neighbours, which removes most edge crossings.
 *
 * Pure (no DOM): the benchmark runs it in Node to give the peer renderer the same positions.
 */
import type { GraphViewV1 as GraphView } from '@ward/api-types/console';

export interface Position {
  x: number;
  y: number;
  column: number;
}

const COLUMN_GAP = 200;
const ROW_GAP = 24;
const SWEEPS = 4;
const MAX_ASPECT = 2;

export function layout(view: Pick<GraphView, 'nodes' | 'edges'>): Map<string, Position> {
  const n = view.nodes.length;
  const index = new Map<string, number>();
  view.nodes.forEach((node, i) => {
    index.set(node.id, i);
  });
  const out: number[][] = Array.from({ length: n }, () => []);
  const inn: number[][] = Array.from({ length: n }, () => []);
  for (const e of view.edges) {
    const a = index.get(e.from);
    const b = index.get(e.to);
    if (a === undefined || b === undefined || a === b) continue;
    out[a]!.push(b);
    inn[b]!.push(a);
  }
  const comp = components(n, out);
  const depth = dependencyDepth(n, out, comp);
  const maxWave = Math.max(-1, ...view.nodes.map((v) => v.wave ?? -1));
  // Column key: (wave, depth) in lexicographic order, compressed to consecutive columns.
  const key = (i: number) => {
    const w = view.nodes[i]!.wave ?? maxWave + 1;
    return w * (n + 1) + depth[i]!;
  };
  const keys = [...new Set(view.nodes.map((_, i) => key(i)))].sort((a, b) => a - b);
  const columnOf = new Map(keys.map((k, c) => [k, c]));
  const columns: number[][] = keys.map(() => []);
  for (let i = 0; i < n; i++) columns[columnOf.get(key(i))!]!.push(i);
  // Start from names grouped by component, then sweep.
  for (const col of columns)
    col.sort((a, b) => comp[a]! - comp[b]! || cmp(view.nodes[a]!.id, view.nodes[b]!.id));
  const rank = new Float64Array(n);
  const ranked = (col: number[]) => {
    for (let r = 0; r < col.length; r++) rank[col[r]!] = (r + 0.5) / col.length;
  };
  const place = () => {
    for (const col of columns) ranked(col);
  };
  place();
  for (let sweep = 0; sweep < SWEEPS; sweep++) {
    const order = sweep % 2 === 0 ? columns : [...columns].reverse();
    for (const col of order) {
      const bary = new Map<number, number>();
      for (const v of col) {
        let sum = 0;
        let count = 0;
        for (const u of out[v]!) {
          sum += rank[u]!;
          count++;
        }
        for (const u of inn[v]!) {
          sum += rank[u]!;
          count++;
        }
        bary.set(v, count === 0 ? rank[v]! : sum / count);
      }
      // A cycle's members move as one block: they share their mean.
      const group = new Map<number, { sum: number; count: number }>();
      for (const v of col) {
        const g = group.get(comp[v]!) ?? { sum: 0, count: 0 };
        g.sum += bary.get(v)!;
        g.count++;
        group.set(comp[v]!, g);
      }
      const score = (v: number) => {
        const g = group.get(comp[v]!)!;
        return g.sum / g.count;
      };
      col.sort((a, b) => score(a) - score(b) || comp[a]! - comp[b]! || bary.get(a)! - bary.get(b)!);
      ranked(col);
    }
  }
  const tallest = Math.max(1, ...columns.map((c) => c.length));
  // A deep graph has hundreds of thin columns: squeeze the gap between columns so the drawing
  // keeps a screen-like shape (at most MAX_ASPECT wide for 1 high) instead of a thin strip.
  const height = Math.max(ROW_GAP, (tallest - 1) * ROW_GAP);
  const gap = Math.min(COLUMN_GAP, (height * MAX_ASPECT) / Math.max(1, columns.length - 1));
  const positions = new Map<string, Position>();
  columns.forEach((col, c) => {
    const offset = ((tallest - col.length) * ROW_GAP) / 2;
    col.forEach((v, r) => {
      // Screen y grows downwards; sigma's grows upwards: negate so the first row is on top.
      positions.set(view.nodes[v]!.id, {
        x: c * gap,
        y: -(offset + r * ROW_GAP),
        column: c,
      });
    });
  });
  return positions;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Strongly connected components (iterative Tarjan): the component id of each vertex. */
export function components(n: number, out: number[][]): Int32Array {
  const comp = new Int32Array(n).fill(-1);
  const low = new Int32Array(n);
  const num = new Int32Array(n).fill(-1);
  const onStack = new Uint8Array(n);
  const stack: number[] = [];
  let counter = 0;
  let next = 0;
  for (let root = 0; root < n; root++) {
    if (num[root] !== -1) continue;
    const work: [number, number][] = [[root, 0]];
    num[root] = low[root] = counter++;
    stack.push(root);
    onStack[root] = 1;
    while (work.length > 0) {
      const top = work[work.length - 1]!;
      const [v, i] = top;
      if (i < out[v]!.length) {
        top[1]++;
        const w = out[v]![i]!;
        if (num[w] === -1) {
          num[w] = low[w] = counter++;
          stack.push(w);
          onStack[w] = 1;
          work.push([w, 0]);
        } else if (onStack[w]) low[v] = Math.min(low[v]!, num[w]!);
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const parent = work[work.length - 1]![0];
        low[parent] = Math.min(low[parent]!, low[v]!);
      }
      if (low[v] === num[v]) {
        let w: number;
        do {
          w = stack.pop()!;
          onStack[w] = 0;
          comp[w] = next;
        } while (w !== v);
        next++;
      }
    }
  }
  return comp;
}

/**
 * Longest dependency chain below each vertex on the condensation (0: depends on nothing), so
 * a caller always stands right of what it calls; a cycle's members share one depth.
 */
function dependencyDepth(n: number, out: number[][], comp: Int32Array): Int32Array {
  const c = Math.max(-1, ...comp) + 1;
  const succ: Set<number>[] = Array.from({ length: c }, () => new Set());
  for (let v = 0; v < n; v++)
    for (const w of out[v]!) if (comp[v] !== comp[w]) succ[comp[v]!]!.add(comp[w]!);
  // Tarjan numbers components in reverse topological order: successors come first.
  const d = new Int32Array(c);
  for (let k = 0; k < c; k++) {
    let best = -1;
    for (const s of succ[k]!) best = Math.max(best, d[s]!);
    d[k] = best + 1;
  }
  const depth = new Int32Array(n);
  for (let v = 0; v < n; v++) depth[v] = d[comp[v]!]!;
  return depth;
}
