/**
 * Issue 12 item 2: deploy/docker/Dockerfile, checked statically — there is no Docker engine
 * where the tests run, so the images are NOT built here. What a reviewer would check: a base
 * image pinned to an exact Node version, production dependencies only from the lockfile, a
 * non-root user in each image, a HEALTHCHECK, and only the runtime sources copied in.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const dockerfile = join(root, 'deploy', 'docker', 'Dockerfile');

interface Instruction {
  op: string;
  args: string;
  line: number;
}
interface Stage {
  from: string;
  name: string;
  body: Instruction[];
}

/** Dockerfile instructions (continuations joined, comments dropped), grouped by stage. */
function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i + 1;
    let line = lines[i]!;
    if (/^\s*(#|$)/.test(line)) continue;
    while (line.endsWith('\\') && i + 1 < lines.length)
      line = `${line.slice(0, -1)} ${lines[++i]!.trim()}`;
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!m) throw new Error(`Dockerfile:${start}: cannot read "${line}"`);
    const ins = { op: m[1]!.toUpperCase(), args: m[2]!.trim(), line: start };
    if (ins.op === 'FROM') {
      const [, from, name] = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args) ?? [];
      stages.push({ from: from!, name: name ?? String(stages.length), body: [] });
    } else {
      if (stages.length === 0) throw new Error(`Dockerfile:${start}: ${ins.op} before FROM`);
      stages.at(-1)!.body.push(ins);
    }
  }
  return stages;
}

const stages = parseDockerfile(readFileSync(dockerfile, 'utf8'));
const stage = (name: string) => stages.find((s) => s.name === name)!;
/** A stage's instructions with those of the stages it is built FROM, base first. */
const lineage = (s: Stage): Instruction[] => {
  const parent = stages.find((p) => p.name === s.from);
  return [...(parent ? lineage(parent) : []), ...s.body];
};
const workspaces = (
  JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { workspaces: string[] }
).workspaces;
const pkg = (dir: string) =>
  JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8')) as {
    name: string;
    dependencies?: Record<string, string>;
  };

describe('deploy/docker/Dockerfile (static checks; not built: no Docker engine here)', () => {
  it('has the server and agent targets', () => {
    expect(stages.map((s) => s.name)).toEqual(expect.arrayContaining(['server', 'agent']));
  });

  it('builds only from node:<exact version>-slim, matching the Node the repository tests with', () => {
    const node = JSON.parse(
      readFileSync(join(root, 'node_modules', 'node', 'package.json'), 'utf8'),
    ).version;
    for (const s of stages) {
      if (stages.some((p) => p.name === s.from)) continue;
      expect(s.from).toBe(`node:${node}-slim`);
    }
  });

  it('installs production dependencies from the lockfile, without install scripts', () => {
    const npm = (s: Stage) => s.body.filter((i) => i.op === 'RUN' && /\bnpm\b/.test(i.args));
    const runs = npm(stage('deps'));
    expect(runs).toHaveLength(1);
    expect(runs[0]!.args).toMatch(/\bnpm ci\b/);
    expect(runs[0]!.args).toMatch(/--omit=dev\b/);
    expect(runs[0]!.args).toMatch(/--ignore-scripts\b/);
    // Dev tools (Vite) install in one stage only, the console build, and never run scripts.
    const others = stages.filter((s) => s.name !== 'deps' && npm(s).length > 0);
    expect(others.map((s) => s.name)).toEqual(['console']);
    for (const r of npm(stage('console'))) expect(r.args).toMatch(/--ignore-scripts\b/);
    // No image inherits that stage: only the built web app is copied out of it.
    for (const name of ['server', 'agent']) {
      expect(lineage(stage(name))).not.toEqual(expect.arrayContaining(stage('console').body));
      const fromConsole = lineage(stage(name)).filter(
        (i) => i.op === 'COPY' && i.args.startsWith('--from=console'),
      );
      for (const c of fromConsole) expect(c.args).toMatch(/\/packages\/console\/dist\/web /);
    }
  });

  it('copies the manifest of every workspace before `npm ci` (it checks the lockfile against all)', () => {
    const deps = stage('deps');
    const copied = deps.body.filter((i) => i.op === 'COPY').map((i) => i.args);
    for (const ws of workspaces) expect(copied).toContain(`${ws}/package.json ${ws}/`);
    expect(copied).toContain('package.json package-lock.json ./');
  });

  it('runs each image as a non-root numeric user, with a HEALTHCHECK', () => {
    for (const name of ['server', 'agent']) {
      const all = lineage(stage(name));
      const user = all.filter((i) => i.op === 'USER').at(-1);
      expect(user, name).toBeDefined();
      expect(user!.args).toMatch(/^[1-9][0-9]*(:[1-9][0-9]*)?$/);
      expect(
        all.some((i) => i.op === 'HEALTHCHECK' && /CMD/.test(i.args)),
        name,
      ).toBe(true);
    }
    // The server's check is the endpoint the Kubernetes probes use.
    const hc = stage('server').body.find((i) => i.op === 'HEALTHCHECK')!;
    expect(hc.args).toMatch(/\/healthz/);
  });

  it('copies from the build context only manifests and runtime sources, never tests or local data', () => {
    const allowed =
      /^(package\.json|package-lock\.json|packages\/[a-z-]+\/package\.json|packages\/[a-z-]+\/src|packages\/(?:spiffe|agent)\/proto|packages\/console\/web|packages\/console\/vite\.config\.ts)$/;
    for (const s of stages) {
      for (const i of s.body.filter(
        (x) => (x.op === 'COPY' || x.op === 'ADD') && !x.args.startsWith('--from'),
      )) {
        expect(i.op, `line ${i.line}`).toBe('COPY');
        const sources = i.args.split(/\s+/).slice(0, -1);
        for (const src of sources) expect(src, `Dockerfile:${i.line}`).toMatch(allowed);
      }
    }
    // The protos the agent loads at run time (Workload API; Envoy ext_authz) are in the image.
    const copied = stages.flatMap((s) =>
      s.body.filter((x) => x.op === 'COPY').map((x) => x.args.split(/\s+/)[0]),
    );
    expect(copied).toEqual(
      expect.arrayContaining(['packages/spiffe/proto', 'packages/agent/proto']),
    );
    // The build context is cut down to the same (BuildKit reads Dockerfile.dockerignore).
    const ignore = readFileSync(join(root, 'deploy', 'docker', 'Dockerfile.dockerignore'), 'utf8');
    expect(ignore.split('\n').find((l) => l && !l.startsWith('#'))).toBe('**');
  });

  it('copies the sources of every package `ward server` and `ward agent` load', () => {
    const runtime = lineage(stage('server')).filter(
      (i) => i.op === 'COPY' && !i.args.startsWith('--from'),
    );
    const copied = new Set(runtime.map((i) => i.args.split(/\s+/)[0]));
    const dirOf = new Map(workspaces.map((ws) => [pkg(ws).name, ws]));
    // @ward/demo (and the SDK through it) is loaded only by `ward start`, with a dynamic import.
    const cli = readFileSync(join(root, 'packages', 'cli', 'src', 'commands', 'start.ts'), 'utf8');
    expect(cli).toMatch(/await import\('@ward\/demo'\)/);
    const lazy = new Set(['@ward/demo']);
    const needed = new Set<string>();
    const visit = (name: string) => {
      if (needed.has(name) || lazy.has(name)) return;
      needed.add(name);
      for (const dep of Object.keys(pkg(dirOf.get(name)!).dependencies ?? {}))
        if (dirOf.has(dep)) visit(dep);
    };
    visit('@ward/cli');
    for (const name of needed) expect(copied, name).toContain(`${dirOf.get(name)}/src`);
    // The agent's Workload API loads its protobuf definitions at run time.
    expect(copied).toContain('packages/spiffe/proto');
    const entry = lineage(stage('server')).find((i) => i.op === 'ENTRYPOINT')!;
    // The image runs the TypeScript source: the `ward-source` export condition resolves the
    // @ward packages to src/ (their default export is the built dist/, which the image lacks).
    expect(JSON.parse(entry.args)).toEqual([
      'node',
      '--conditions=ward-source',
      '/app/packages/cli/src/bin.ts',
    ]);
  });

  it("the agent image has python3, which the agent's peer-credential helper runs", () => {
    const source = readFileSync(
      join(root, 'packages', 'agent', 'src', 'peer-credential-reader.ts'),
      'utf8',
    );
    expect(source).toMatch(/'python3'/);
    const install = stage('agent').body.find(
      (i) => i.op === 'RUN' && /apt-get install/.test(i.args),
    );
    expect(install?.args).toMatch(/--no-install-recommends python3\b/);
    expect(install?.args).toMatch(/rm -rf \/var\/lib\/apt\/lists/);
    expect(stage('server').body.some((i) => /apt-get/.test(i.args))).toBe(false);
  });
});
