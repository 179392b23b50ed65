import { compile } from '@ward/graph';
import { generate } from './graph-analyze.ts';
const graph = generate(100_000, 1_000_000, 200);
const idx = new Map<string, number>();
graph.services.forEach((s, i) => idx.set(s.name, i));
const cpu = (f: () => void) => { const c0 = process.cpuUsage(); f(); const c = process.cpuUsage(c0); return Math.round((c.user + c.system) / 1000); };
for (let i = 0; i < 3; i++) {
  let x = 0;
  const a = cpu(() => { for (const e of graph.edges) x += idx.get(e.to)!; });
  const b = cpu(() => { let last = ''; let la = 0; for (const e of graph.edges) { if (e.from !== last) { last = e.from; la = idx.get(last)!; } x += la; } });
  const c = cpu(() => { for (const e of graph.edges) x += e.kind === 'startup' ? 1 : 0; });
  const d = cpu(() => { const m = new Map<string, number>(); graph.services.forEach((s, i) => m.set(s.name, i)); });
  const full = cpu(() => { compile(graph); });
  console.log({ toLookups: a, fromCached: b, kind: c, buildIndex: d, full, x: x > 0 });
}
