/**
 * `npm run bench -- graph-scan APPS_DIR [min-confidence]`: recall and precision of
 * `ward graph scan` on real open-source microservice apps, against hand-labelled true edges
 * (bench/scan-truth/*.json, from each app's architecture docs), and scan throughput.
 *
 * APPS_DIR holds one checkout per truth file, under the truth's `dir` (e.g.
 * `GoogleCloudPlatform+microservices-demo`); check them out outside this repository (their code
 * is never committed here): `git --git-dir=MIRROR archive COMMIT | tar -x -C APPS_DIR/DIR`.
 *
 * Per app, three views of the same scan: `code` (edges with a source found in code or
 * configuration), `manifests` (edges the Kubernetes/Compose readers declare), `both`. Edges
 * touching a node the truth file ignores (observability plumbing) are left out of both sides.
 *
 * Peer, same tree, same run: `grep -rn` for URL and host:port shapes (what a user would run by
 * hand), which finds lines but names no service and no edge: it is a throughput yardstick only.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Confidence, DependencyGraph } from '@ward/graph';
import { scanDirs } from '../packages/cli/src/commands/graph-scan.ts';
import { progress, round } from './_stats.ts';

interface Truth {
  app: string;
  dir: string;
  ignore: string[];
  edges: [string, string][];
}

const truthDir = join(import.meta.dirname, 'scan-truth');

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const appsDir = args[0];
  if (!appsDir) throw new Error('usage: npm run bench -- graph-scan APPS_DIR [min-confidence]');
  const minConfidence = (args[1] ?? 'medium') as Confidence;
  await import('@ward/graph'); // loaded before the clock starts, as in a warm CLI
  const apps: Record<string, unknown>[] = [];
  const totals = { code: new Tally(), manifests: new Tally(), both: new Tally() };
  for (const f of readdirSync(truthDir)
    .filter((n) => n.endsWith('.json'))
    .sort()) {
    const truth = JSON.parse(readFileSync(join(truthDir, f), 'utf8')) as Truth;
    const root = join(appsDir, truth.dir);
    if (!existsSync(root)) {
      apps.push({ app: truth.app, skipped: `no checkout at ${root}` });
      continue;
    }
    progress(`scanning ${truth.app}`);
    const t0 = performance.now();
    const result = await scanDirs([root], {
      services: [],
      minConfidence,
      trustDomain: 'cluster.local',
    });
    const ms = performance.now() - t0;
    const g0 = performance.now();
    let grepLines = 0;
    try {
      grepLines =
        execFileSync(
          'grep',
          [
            '-rnE',
            '--exclude-dir=node_modules',
            '--exclude-dir=.git',
            '--exclude-dir=vendor',
            '[a-z]+://[A-Za-z0-9.-]+|[A-Za-z][A-Za-z0-9.-]*:[0-9]{2,5}',
            root,
          ],
          { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 },
        ).split('\n').length - 1;
    } catch (error) {
      if ((error as { status?: number }).status !== 1) throw error;
    }
    const grepMs = performance.now() - g0;
    const truthSet = new Set(truth.edges.map(([a, b]) => `${a} → ${b}`));
    const ignored = new Set(truth.ignore);
    const views = {
      code: edgesOf(result.graph, (t) => t === 'scan', ignored),
      manifests: edgesOf(result.graph, (t) => t !== 'scan', ignored),
      both: edgesOf(result.graph, () => true, ignored),
    };
    const scores: Record<string, unknown> = {};
    for (const [view, found] of Object.entries(views) as [keyof typeof views, Set<string>][]) {
      const tally = new Tally();
      tally.add(truthSet, found);
      totals[view].add(truthSet, found);
      scores[view] = {
        ...tally.scores(),
        missed: [...truthSet].filter((e) => !found.has(e)),
        wrong: [...found].filter((e) => !truthSet.has(e)),
      };
    }
    apps.push({
      app: truth.app,
      true_edges: truthSet.size,
      ...scores,
      files: result.stats.files,
      bytes: result.stats.bytes,
      findings: result.stats.findings,
      ms: round(ms),
      files_per_sec: round(result.stats.files / (ms / 1000)),
      mb_per_sec: round(result.stats.bytes / 1048576 / (ms / 1000)),
      peer_grep_ms: round(grepMs),
      peer_grep_lines: grepLines,
    });
  }
  return {
    min_confidence: minConfidence,
    total: {
      code: totals.code.scores(),
      manifests: totals.manifests.scores(),
      both: totals.both.scores(),
    },
    apps,
  };
}

/** `from → to` of the edges with at least one source `keep` accepts, leaving ignored nodes out. */
function edgesOf(
  graph: DependencyGraph,
  keep: (type: string) => boolean,
  ignored: Set<string>,
): Set<string> {
  const out = new Set<string>();
  for (const e of graph.edges) {
    if (ignored.has(e.from) || ignored.has(e.to)) continue;
    if (e.sources.some((s) => keep(s.type))) out.add(`${e.from} → ${e.to}`);
  }
  return out;
}

class Tally {
  tp = 0;
  fp = 0;
  fn = 0;

  add(truth: Set<string>, found: Set<string>): void {
    for (const e of found)
      if (truth.has(e)) this.tp++;
      else this.fp++;
    for (const e of truth) if (!found.has(e)) this.fn++;
  }

  scores(): { recall: number; precision: number; tp: number; fp: number; fn: number } {
    const r = (x: number) => Math.round(x * 1000) / 1000;
    return {
      recall: r(this.tp / Math.max(1, this.tp + this.fn)),
      precision: r(this.tp / Math.max(1, this.tp + this.fp)),
      tp: this.tp,
      fp: this.fp,
      fn: this.fn,
    };
  }
}
