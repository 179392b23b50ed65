/**
 * Profiles of benchmark worker processes (`PROF=1`): the V8 CPU profiler, started and stopped
 * around the measured window only (set-up excluded), and a summary of where the time went.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';

let session: Session | undefined;

export async function startProfile(): Promise<void> {
  session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
}

/** Stops the profiler, writes `file` (a `.cpuprofile`) and returns its summary. */
export async function stopProfile(
  file: string,
  parts: readonly string[],
): Promise<ProfileSummary | undefined> {
  if (!session) return undefined;
  const { profile } = await session.post('Profiler.stop');
  writeFileSync(file, JSON.stringify(profile));
  session.disconnect();
  return summarize(profile as unknown as CpuProfile, parts);
}

interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    children?: number[];
  }[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  total_ms: number;
  /**
   * Time by part: each sample goes to the nearest caller among the `parts` functions (e.g.
   * `verifyBundle`, `loadBundle`), else to GC, idle or `other`.
   */
  parts: Record<string, number>;
  /** Self time by function (name and file), largest first. */
  top: { fn: string; self_ms: number; pct: number }[];
}

export function summarize(
  profile: CpuProfile,
  parts: readonly string[],
  count = 12,
): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parentOf = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
  const partOf = (id: number): string => {
    for (let cur: number | undefined = id; cur !== undefined; cur = parentOf.get(cur)) {
      const fn = byId.get(cur)?.callFrame.functionName ?? '';
      if (parts.includes(fn)) return fn;
    }
    const own = byId.get(id)?.callFrame.functionName ?? '';
    return ['(garbage collector)', '(idle)', '(program)'].includes(own) ? own : 'other';
  };
  const byPart: Record<string, number> = {};
  const self = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const us = profile.timeDeltas[i] ?? 0;
    const node = byId.get(profile.samples[i]!);
    if (!node) continue;
    const part = partOf(node.id);
    byPart[part] = (byPart[part] ?? 0) + us;
    const f = node.callFrame;
    const file = f.url.replace(/^.*\/(packages|node_modules)\//, '$1/');
    const key = `${f.functionName || '(anonymous)'} ${file}${file ? `:${f.lineNumber + 1}` : ''}`;
    self.set(key, (self.get(key) ?? 0) + us);
    total += us;
  }
  const top = [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([fn, us]) => ({
      fn,
      self_ms: Math.round(us / 100) / 10,
      pct: Math.round((1000 * us) / total) / 10,
    }));
  const partsPct = Object.fromEntries(
    Object.entries(byPart)
      .sort((a, b) => b[1] - a[1])
      .map(([k, us]) => [`${k} %`, Math.round((1000 * us) / total) / 10]),
  );
  return { total_ms: Math.round(total / 1000), parts: partsPct, top };
}
