import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const bin = join(import.meta.dirname, '..', 'src', 'bin.ts');
const fixture = join(import.meta.dirname, '..', '..', 'graph', 'test', 'fixtures', 'scan');

function ward(cwd: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Issue 11 item 2: `ward graph scan DIR…` on the real CLI, over a copy of the fixture shop. */
describe('ward graph scan (real CLI)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ward-scan-'));
  const app = join(dir, 'shop');
  cpSync(fixture, app, { recursive: true });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes a graph that ward graph analyze reads back', () => {
    const r = ward(dir, 'graph', 'scan', 'shop', '-o', 'json');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out);
    expect(report.version).toBe('ward.dev/graph-scan/v1');
    const edges = report.graph.edges.map(
      (e: { from: string; to: string }) => `${e.from} → ${e.to}`,
    );
    expect(edges).toContain('orders → payments');
    expect(edges).toContain('frontend → orders');
    expect(edges).toHaveLength(8);
    expect(report.findings[0].file.startsWith('shop/')).toBe(true);
    expect(r.err).toMatch(/scanned \d+ file\(s\) in 1 dir\(s\): 8 edge\(s\)/);
    writeFileSync(join(dir, 'scan.json'), r.out);
    const analyzed = ward(dir, 'graph', 'analyze', '-f', 'scan.json', '-o', 'json');
    expect(analyzed.code).toBe(0);
    expect(JSON.parse(analyzed.out).graph.edges).toHaveLength(8);
  });

  it('prints text and YAML', () => {
    const text = ward(dir, 'graph', 'scan', 'shop');
    expect(text.code).toBe(0);
    expect(text.out).toContain('orders → payments  [host-port, high] shop/orders/main.go:14:19');
    const yaml = ward(dir, 'graph', 'scan', 'shop', '-o', 'yaml');
    expect(yaml.out).toContain('version: ward.dev/graph-scan/v1');
  });

  it('does not follow a symlink out of the scanned directory, and skips big and binary files', () => {
    const outside = join(dir, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'secret.ts'), "const x = 'http://payments:9000';\n");
    symlinkSync(join(outside, 'secret.ts'), join(app, 'frontend', 'src', 'link.ts'));
    writeFileSync(join(app, 'frontend', 'src', 'huge.ts'), `// ${'x'.repeat(1024 * 1024 + 10)}\n`);
    writeFileSync(join(app, 'frontend', 'src', 'blob.ts'), Buffer.from([0x68, 0x00, 0x69]));
    const r = ward(dir, 'graph', 'scan', 'shop', '-o', 'json');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out);
    const skipped = Object.fromEntries(
      report.skipped.map((s: { file: string; reason: string }) => [s.file, s.reason]),
    );
    expect(skipped['shop/frontend/src/link.ts']).toMatch(/outside the scanned directory/);
    expect(skipped['shop/frontend/src/huge.ts']).toMatch(/larger than/);
    expect(skipped['shop/frontend/src/blob.ts']).toMatch(/binary/);
    expect(
      report.graph.edges.some(
        (e: { from: string; to: string }) => e.from === 'frontend' && e.to === 'payments',
      ),
    ).toBe(false);
  });

  it('knows services given with --services', () => {
    mkdirSync(join(dir, 'solo', 'api'), { recursive: true });
    writeFileSync(join(dir, 'solo', 'api', 'package.json'), '{}');
    writeFileSync(join(dir, 'solo', 'api', 'index.js'), "const u = 'http://billing:8080/x';\n");
    const none = JSON.parse(ward(dir, 'graph', 'scan', 'solo', '-o', 'json').out);
    expect(none.graph.edges).toEqual([]);
    const some = JSON.parse(
      ward(dir, 'graph', 'scan', 'solo', '-o', 'json', '--services', 'billing').out,
    );
    expect(
      some.graph.edges.map((e: { from: string; to: string }) => `${e.from} → ${e.to}`),
    ).toEqual(['api → billing']);
  });

  it('usage errors and missing directories exit 2 with one line, no stack trace', () => {
    for (const args of [
      ['graph', 'scan', 'shop', '-o', 'pdf'],
      ['graph', 'scan', 'shop', '--min-confidence', 'sure'],
      ['graph', 'scan', 'nope'],
      ['graph', 'scan', 'shop/docker-compose.yml'],
    ]) {
      const r = ward(dir, ...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err.trim().split('\n')).toHaveLength(1);
      expect(r.err).not.toMatch(/\n\s+at /);
    }
  });
});
