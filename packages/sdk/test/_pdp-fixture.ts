import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BundleV1, SignedBundleV1 } from '@ward/api-types';
import { exportPublicKey, generateBundleSigningKey, signBundle } from '@ward/bundle';
import type { PolicyDocument } from '@ward/policy';
import type { PdpLogger } from '../src/index.ts';

/** The intention on `orders` at a given stage of a test: who may call it. */
export function ordersPolicy(allowed: string[]): PolicyDocument[] {
  const services = ['orders', 'checkout', 'billing', 'monitoring'];
  return [
    ...services.map(
      (name): PolicyDocument => ({
        apiVersion: 'ward.dev/v1',
        kind: 'Service',
        // The default namespace (keys are bare names), workloads in Kubernetes namespace `shop`
        // (the SPIFFE ID written out, as the namespace migration keeps pre-namespace services).
        metadata: { name },
        spec: { spiffeId: `spiffe://test.local/ns/shop/sa/${name}` },
      }),
    ),
    {
      apiVersion: 'ward.dev/v1',
      kind: 'Intention',
      metadata: { name: 'orders-callers' },
      spec: {
        destination: 'orders',
        mode: 'enforce',
        rules: [{ sources: allowed.length > 0 ? allowed : ['nobody'], action: 'allow' }],
      },
    },
  ];
}

/** A control-plane signing key of the test's own, for bundles the control plane never made. */
export function signingKey() {
  const { privateKey, publicKey } = generateBundleSigningKey();
  return { privateKey, publicKey: exportPublicKey(publicKey) };
}

export function bundleOf(
  service: string,
  revision: number,
  documents: PolicyDocument[],
  privateKey: ReturnType<typeof signingKey>['privateKey'],
): SignedBundleV1 {
  const bundle: BundleV1 = {
    apiVersion: 'ward.dev/v1',
    kind: 'Bundle',
    service,
    revision,
    issuedAt: new Date().toISOString(),
    trustDomain: 'test.local',
    documents,
    passportKeys: [
      { kid: `k${revision}`, alg: 'HS256', key: 'c2VjcmV0LWtleS1ieXRlcy0wMTIzNDU2Nzg5YWJjZGVm' },
    ],
  };
  return signBundle(bundle, privateKey);
}

/** A logger that keeps what it is told, so tests can assert that refusals were logged. */
export function memoryLogger(): PdpLogger & {
  lines: { level: string; message: string; fields: object }[];
} {
  const lines: { level: string; message: string; fields: object }[] = [];
  const at = (level: string) => (fields: object, message: string) => {
    lines.push({ level, message, fields });
  };
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export function tempDir(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), `ward-${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Polls `check` on the event loop until it returns true (no timing assertion: the test timeout bounds it). */
export async function until(check: () => boolean, what: string, limitMs = 20_000): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > limitMs) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const fromCheckout = { source: { service: 'checkout' } } as const;
export const fromBilling = { source: { service: 'billing' } } as const;
