import { execFile, spawn } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  applyDocuments,
  type ControlPlaneProcess,
  pdpToken,
  spawnControlPlane,
} from '../packages/sdk/test/_control-plane.ts';
import { ordersPolicy } from '../packages/sdk/test/_pdp-fixture.ts';

/**
 * Issue 12 item 1: the packages install from their `npm pack` tarballs into a project outside the
 * repository and work there on Node 22 and Node 26 (both from the npm registry's `node` package:
 * 26 is the repository's own devDependency, 22 is installed once into ~/.cache/ward-node). The
 * project runs an Express service with the Ward middleware and a PDP (its bundles from a
 * `ward server` started from this repository), `npx ward policy check`, and a type check of the
 * published declarations. Needs the npm registry (express, the packages' dependencies).
 */
const root = join(import.meta.dirname, '..');
const run = promisify(execFile);
const fixtures = join(import.meta.dirname, 'fixtures', 'consumer');
const NODE_22_CACHE = join(
  process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'),
  'ward-node',
  '22',
);

/**
 * The environment of a process outside the repository: without the `ward-source` condition the
 * tests run with (a consumer must never resolve it) and without npm's variables of `npm test`.
 */
function outsideEnv(node: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key === 'NODE_OPTIONS' || key.toLowerCase().startsWith('npm_')) continue;
    env[key] = value;
  }
  // `npm`, `npx` and the `ward` bin start with `#!/usr/bin/env node`: this Node.
  env.PATH = [dirname(node), env.PATH].join(delimiter);
  // npm turns on Node's module compile cache, which otherwise lands in $TMPDIR/node-compile-cache
  // and outlives the test.
  env.NODE_DISABLE_COMPILE_CACHE = '1';
  return env;
}

async function sh(cmd: string, args: string[], cwd: string, node: string, timeout = 240_000) {
  return run(cmd, args, { cwd, env: outsideEnv(node), timeout, maxBuffer: 64 << 20 });
}

/** Node 22 from the registry's `node` package, installed once into the cache folder. */
async function node22(): Promise<string> {
  const bin = join(NODE_22_CACHE, 'node_modules', 'node', 'bin', 'node');
  if (existsSync(bin)) return bin;
  mkdirSync(NODE_22_CACHE, { recursive: true });
  writeFileSync(
    join(NODE_22_CACHE, 'package.json'),
    JSON.stringify({ private: true, allowScripts: { node: true } }),
  );
  // The `node` package fetches the platform's binary in its install script.
  await sh(
    'npm',
    ['install', '--no-audit', '--no-fund', 'node@22'],
    NODE_22_CACHE,
    process.execPath,
  );
  return bin;
}

/** What a tarball may hold: dist/, the spiffe .proto, the CLI launcher, manifest, readme, licence. */
// Protos are runtime data (the Workload API's; the agent's vendored Envoy protos, in folders, with
// the licence and provenance they came with).
const SHIPPED =
  /^package\/(?:dist\/|proto\/(?:[\w.-]+\/)*[\w.-]+\.proto$|proto\/(?:[\w.-]+\/)*(?:README\.md|LICENSE)$|bin\/ward\.js$|package\.json$|README(?:\.md)?$|LICEN[CS]E(?:\.\w+)?$)/;

const node26 = join(root, 'node_modules', 'node', 'bin', 'node');
const work = mkdtempSync(join(tmpdir(), 'ward-packaging-'));
const tarballs = join(work, 'tarballs');
const project = join(work, 'project');
let nodes: Record<'22' | '26', string>;
let controlPlane: ControlPlaneProcess;
let token: string;

beforeAll(async () => {
  nodes = { '22': await node22(), '26': node26 };
  // Build every package (tsc -b, in dependency order) and pack each one.
  await sh(join(root, 'node_modules', '.bin', 'tsc'), ['-b', 'tsconfig.build.json'], root, node26);
  mkdirSync(tarballs);
  await sh(
    'npm',
    ['pack', '--workspaces', '--ignore-scripts', '--pack-destination', tarballs],
    root,
    node26,
  );
  // A fresh project outside the repository, installing the tarballs and express from the registry.
  mkdirSync(project);
  cpSync(fixtures, project, { recursive: true });
  cpSync(join(root, 'examples', 'policies'), join(project, 'policies'), { recursive: true });
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
  );
  const packed = readdirSync(tarballs).map((f) => join(tarballs, f));
  await sh(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--ignore-scripts',
      ...packed,
      'express@^5',
      '@types/express@^5',
      '@types/node@^22',
    ],
    project,
    node26,
  );
  // The control plane the consumer's PDP gets its bundles from (this repository's `ward server`).
  controlPlane = await spawnControlPlane({ database: join(work, 'ward.db'), dataDir: work });
  await applyDocuments(controlPlane.url, ordersPolicy(['checkout']));
  token = await pdpToken(controlPlane.url, 'orders');
}, 600_000);

afterAll(async () => {
  await controlPlane?.kill();
  rmSync(work, { recursive: true, force: true });
});

describe('npm pack tarballs', () => {
  it('ship JavaScript and declarations only: no source, tests, data or install scripts', async () => {
    const files = readdirSync(tarballs);
    expect(files.sort()).toContain('ward-sdk-0.1.0.tgz');
    for (const file of files) {
      const { stdout } = await run('tar', ['-tzf', join(tarballs, file)]);
      const entries = stdout.split('\n').filter(Boolean);
      expect(entries, file).toContain('package/dist/index.js');
      expect(entries, file).toContain('package/dist/index.d.ts');
      expect(
        entries.filter((e) => e.startsWith('package/src/') || e.endsWith('.tsbuildinfo')),
        file,
      ).toEqual([]);
      expect(
        entries.filter((e) => e.endsWith('.ts') && !e.endsWith('.d.ts')),
        file,
      ).toEqual([]);
      // Nothing but the build, the manifest and the declared assets: no tests, data or keys.
      expect(
        entries.filter((e) => !SHIPPED.test(e)),
        file,
      ).toEqual([]);
      // No install-time scripts run on a consumer's machine.
      const { stdout: manifest } = await run('tar', [
        '-xzOf',
        join(tarballs, file),
        'package/package.json',
      ]);
      const scripts = Object.keys((JSON.parse(manifest) as { scripts?: object }).scripts ?? {});
      expect(
        scripts.filter((s) => /install|prepare/.test(s)),
        file,
      ).toEqual([]);
    }
  });

  it('declarations type-check in the consumer (strict, skipLibCheck off)', async () => {
    const tsc = join(root, 'node_modules', '.bin', 'tsc');
    await expect(
      sh(tsc, ['-p', join(project, 'tsconfig.json')], project, node26),
    ).resolves.toBeDefined();
  });
});

for (const version of ['22', '26'] as const) {
  describe(`installed outside the repository, on Node ${version}`, () => {
    it('an Express service with the Ward middleware and a PDP allows and denies', async () => {
      const child = spawn(nodes[version], ['service.mjs'], {
        cwd: project,
        env: {
          ...outsideEnv(nodes[version]),
          WARD_CONTROL_PLANE: controlPlane.url,
          WARD_BUNDLE_KEY: controlPlane.publicKey,
          WARD_TOKEN: token,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk) => {
        stderr += chunk;
      });
      try {
        const first = await new Promise<string>((resolve, reject) => {
          createInterface({ input: child.stdout }).once('line', resolve);
          child.once('exit', (code) => reject(new Error(`service exited with ${code}: ${stderr}`)));
        });
        const { port, node } = JSON.parse(first) as { port: number; node: string };
        expect(node.startsWith(`v${version}.`)).toBe(true);
        const call = (source: string) =>
          fetch(`http://127.0.0.1:${port}/orders/42`, { headers: { 'x-ward-source': source } });

        const allowed = await call('checkout');
        expect(allowed.status).toBe(200);
        expect(await allowed.json()).toEqual({ id: '42', caller: 'checkout' });

        const denied = await call('billing');
        expect(denied.status).toBe(403);
        expect(denied.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        expect(await denied.json()).toMatchObject({ status: 403 });
      } finally {
        child.kill('SIGTERM');
      }
    });

    it('npx ward policy check passes good policies and fails a broken one with its position', async () => {
      const good = await sh(
        'npx',
        ['--no', '--', 'ward', 'policy', 'check', '-f', 'policies'],
        project,
        nodes[version],
      );
      expect(good.stdout + good.stderr).toMatch(/[1-9]\d* document\(s\): 0 error\(s\)/);
      const ward = await sh('npx', ['--no', '--', 'ward', '--version'], project, nodes[version]);
      expect(ward.stdout.trim()).toBe('0.1.0');
      // The bin's `#!/usr/bin/env node` finds this Node first on PATH.
      const env = await sh('node', ['--version'], project, nodes[version]);
      expect(env.stdout.startsWith(`v${version}.`)).toBe(true);

      const bad = await sh(
        'npx',
        ['--no', '--', 'ward', 'policy', 'check', '-f', 'broken.yaml'],
        project,
        nodes[version],
      ).then(
        () => null,
        (error: { code: number; stdout: string; stderr: string }) => error,
      );
      expect(bad?.code).toBe(1);
      const output = `${bad?.stdout}${bad?.stderr}`;
      expect(output).toContain('broken.yaml');
      expect(output).toMatch(/broken\.yaml:\d+:\d+/);
      expect(output).not.toMatch(/\n\s+at /); // no stack trace
    });
  });
}
