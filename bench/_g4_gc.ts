import { bootOrder, breakCycles, compile, stronglyConnected } from '@ward/graph';
import { generate } from './graph-analyze.ts';
const graph = generate(100_000, 1_000_000, 200);
for (let i = 0; i < 3; i++) {
  const c0 = process.cpuUsage(); const t0 = performance.now();
  const g = compile(graph);
  const c1 = process.cpuUsage(c0); const t1 = performance.now();
  const scc = stronglyConnected(g); const t2 = performance.now();
  bootOrder(g); const t3 = performance.now();
  breakCycles(g, scc); const t4 = performance.now();
  const c = process.cpuUsage(c0);
  console.log({ compileWall: Math.round(t1 - t0), compileCpu: Math.round((c1.user + c1.system) / 1000), scc: Math.round(t2 - t1), boot: Math.round(t3 - t2), brk: Math.round(t4 - t3), wall: Math.round(t4 - t0), cpu: Math.round((c.user + c.system) / 1000) });
}
