/**
 * Attribute schemas from the command line (real processes): `ward policy check` reports a
 * misspelt attribute at its line and column (exit 1) and warns about reads no schema covers;
 * `ward get attribute-schemas` lists what an admin applied.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startServer } from '@ward/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const bin = join(import.meta.dirname, '..', 'src', 'bin.ts');
const run = promisify(execFile);
const ADMIN = 'cli-schemas-admin-token-0123456789';

const SCHEMA = `apiVersion: ward.dev/v1
kind: AttributeSchema
metadata: { name: passport }
spec:
  zone: default
  attributes:
    properties:
      tier: { type: string }
`;
const intention = (when: string, destination = 'orders') => `---
apiVersion: ward.dev/v1
kind: Intention
metadata: { name: ${destination}-in }
spec:
  destination: ${destination}
  rules:
    - sources: [web]
      action: allow
      when: ${when}
`;

describe('attribute schemas in the CLI (real processes)', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  const dir = mkdtempSync(join(tmpdir(), 'ward-cli-schemas-'));
  const ward = (...args: string[]) =>
    run(process.execPath, [bin, ...args], { env: { ...process.env, WARD_TOKEN: ADMIN } }).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );

  beforeAll(async () => {
    server = await startServer({ dataDir: join(dir, 'data'), port: 0, adminToken: ADMIN });
  });
  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('policy check: a misspelt attribute is an error at its line and column', async () => {
    const file = join(dir, 'typo.yaml');
    writeFileSync(file, SCHEMA + intention('passport.attrs.teir == "gold"'));
    const r = await ward('policy', 'check', '-f', file);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      'typo.yaml:18:28: error POLICY_ATTRIBUTE_UNKNOWN /spec/rules/0/when: passport attribute "teir" is not declared by the AttributeSchema of this zone; did you mean "tier"?',
    );
  });

  it('policy check: reads no schema covers are warnings (exit 0)', async () => {
    const file = join(dir, 'lint.yaml');
    const edge = SCHEMA.replace('zone: default', 'zone: edge');
    writeFileSync(file, edge + intention('passport.attrs.tier == "gold"'));
    const r = await ward('policy', 'check', '-f', file, '-o', 'json');
    expect(r.code).toBe(0);
    const codes = JSON.parse(r.stdout).map((d: { code: string }) => d.code);
    expect(codes).toContain('LINT_ATTRIBUTE_UNDECLARED');
  });

  it('get attribute-schemas lists what an admin applied', async () => {
    const file = join(dir, 'schema.yaml');
    writeFileSync(file, SCHEMA);
    expect((await ward('apply', '-f', file, '--server', server.url)).code).toBe(0);
    const text = await ward('get', 'attribute-schemas', '--server', server.url);
    expect(text.stdout).toMatch(/^NAMESPACE\s+NAME\s+ZONE\s+ATTRIBUTES\s+LABELS/);
    expect(text.stdout).toMatch(/default\s+passport\s+default\s+1\s+0/);
    const yaml = await ward(
      'get',
      'attribute-schema',
      'passport',
      '--server',
      server.url,
      '-o',
      'json',
    );
    expect(JSON.parse(yaml.stdout).spec.attributes.properties).toEqual({
      tier: { type: 'string' },
    });
  });
});
