/**
 * Cold-start boot order over startup edges: an edge A → B (A needs B to start) puts B in an
 * earlier wave than A. A call into a data store or broker workload (a database, cache or broker
 * typed from its image or ports) counts as a startup edge too, whatever its kind: services open
 * their connection pools when they start, so stores come first. Waves are sets of services that can start in parallel. Services in a
 * startup cycle can never start from cold, and neither can anything that waits for them; each
 * such service gets the reason.
 */
import { type DependencyGraph, isStoreWorkload } from '../model.ts';
import { type CompiledGraph, compile, reverse, subgraph } from './compiled.ts';
import { shortestCycleThrough } from './cycles.ts';
import { stronglyConnected } from './scc.ts';

export interface BlockedService {
  service: string;
  /** Human explanation. */
  reason: string;
  /** The startup cycle it is in, when it is in one (service names, closing back to the first). */
  cycle?: string[];
  /** The dependency it waits for that can never start, when it is not in a cycle itself. */
  waitsFor?: string;
}

export interface BootOrder {
  waves: string[][];
  blocked: BlockedService[];
}

export function bootOrder(graph: DependencyGraph | CompiledGraph): BootOrder {
  // Reuse an already compiled graph when given one: no second pass of name lookups.
  const full = 'offsets' in graph ? graph : compile(graph);
  const g = subgraph(full, startupSlots(full));
  const { n, offsets, targets, names } = g;
  const rev = reverse(g);
  const pending = new Int32Array(n);
  for (let v = 0; v < n; v++) pending[v] = offsets[v + 1]! - offsets[v]!;
  let wave: number[] = [];
  for (let v = 0; v < n; v++) if (pending[v] === 0) wave.push(v);
  const placed = new Uint8Array(n);
  const waves: string[][] = [];
  while (wave.length > 0) {
    const next: number[] = [];
    for (const v of wave) placed[v] = 1;
    for (const b of wave) {
      // Everyone that needs b has one dependency fewer to wait for.
      for (let k = rev.offsets[b]!; k < rev.offsets[b + 1]!; k++) {
        const a = rev.sources[k]!;
        if (--pending[a]! === 0) next.push(a);
      }
    }
    waves.push(wave.map((v) => names[v]!).sort());
    wave = next;
  }
  const blocked: BlockedService[] = [];
  if (waves.reduce((s, w) => s + w.length, 0) < n) {
    const scc = stronglyConnected(g);
    const inCycle = new Uint8Array(n);
    for (const members of scc.cyclic) for (const v of members) inCycle[v] = 1;
    for (let v = 0; v < n; v++) {
      if (placed[v]) continue;
      if (inCycle[v]) {
        const cycle = (shortestCycleThrough(g, scc, v) ?? [v]).map((x) => names[x]!);
        cycle.push(names[v]!);
        blocked.push({
          service: names[v]!,
          reason: `in startup cycle ${cycle.join(' → ')}: each waits for the next to start first`,
          cycle,
        });
      } else {
        let waits = -1;
        for (let k = offsets[v]!; k < offsets[v + 1]!; k++) {
          if (!placed[targets[k]!]) {
            waits = targets[k]!;
            break;
          }
        }
        blocked.push({
          service: names[v]!,
          reason: `needs ${names[waits]!} to start, which can never start cold`,
          waitsFor: names[waits]!,
        });
      }
    }
  }
  return { waves, blocked };
}

/** Which CSR slots order a cold start: startup edges, and calls from a service into a store. */
function startupSlots(full: CompiledGraph): (slot: number) => boolean {
  const services = full.graph.services;
  let store: Uint8Array | undefined;
  for (let v = 0; v < full.n; v++) {
    if (isStoreWorkload(services[v]!)) {
      store ??= new Uint8Array(full.n);
      store[v] = 1;
    }
  }
  if (!store) return (k) => full.startup[k] === 1;
  const from = new Int32Array(full.targets.length);
  for (let v = 0; v < full.n; v++)
    for (let k = full.offsets[v]!; k < full.offsets[v + 1]!; k++) from[k] = v;
  const s = store;
  return (k) => full.startup[k] === 1 || (s[full.targets[k]!] === 1 && s[from[k]!] === 0);
}
