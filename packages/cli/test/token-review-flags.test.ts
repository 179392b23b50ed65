/**
 * `ward server --k8s-*` flags resolved to the CA's TokenReview configuration: in-cluster
 * defaults from the pod's environment, the reviewer token re-read at each review (the kubelet
 * rotates it), and operator mistakes refused as usage errors (exit 2) naming the flag.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { tokenReviewOf } from '../src/commands/_token-review.ts';
import { CliError } from '../src/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'ward-k8s-flags-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const token = join(dir, 'token');
const ca = join(dir, 'ca.crt');
writeFileSync(token, 'first\n');
writeFileSync(ca, '-----BEGIN CERTIFICATE-----\n');
const files = { k8sReviewerTokenFile: token, k8sCaFile: ca };

describe('ward server --k8s-attestation', () => {
  it('is off without --k8s-attestation', () => {
    expect(tokenReviewOf({}, {})).toBeUndefined();
  });

  it('finds the apiserver from the in-cluster environment, bracketing IPv6', () => {
    const v4 = tokenReviewOf(
      { k8sAttestation: 'ward:ward-agent', ...files },
      { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' },
    )!;
    expect(v4.url).toBe('https://10.96.0.1:443');
    expect(v4.allowedServiceAccounts).toEqual(['ward:ward-agent']);
    expect(v4.audience).toBeUndefined();
    expect(v4.caPem).toBe('-----BEGIN CERTIFICATE-----\n');
    const v6 = tokenReviewOf(
      { k8sAttestation: 'ward:ward-agent, ops:agent2', k8sAudience: 'ward-prod', ...files },
      { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '6443' },
    )!;
    expect(v6.url).toBe('https://[fd00::1]:6443');
    expect(v6.allowedServiceAccounts).toEqual(['ward:ward-agent', 'ops:agent2']);
    expect(v6.audience).toBe('ward-prod');
    const explicit = tokenReviewOf(
      { k8sAttestation: 'ward:ward-agent', k8sApi: 'https://api.example:6443', ...files },
      { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' },
    )!;
    expect(explicit.url).toBe('https://api.example:6443');
  });

  it('reads the reviewer token at each review, so a rotated token is used', () => {
    const config = tokenReviewOf(
      { k8sAttestation: 'ward:ward-agent', k8sApi: 'https://x', ...files },
      {},
    )!;
    const read = config.reviewerToken as () => string;
    expect(read()).toBe('first');
    writeFileSync(token, 'second\n');
    expect(read()).toBe('second');
  });

  it('refuses missing files and stray flags as usage errors naming the flag', () => {
    const usage = (f: () => unknown, message: RegExp) => {
      try {
        f();
        expect.unreachable();
      } catch (error) {
        expect(error).toBeInstanceOf(CliError);
        expect((error as CliError).exitCode).toBe(2);
        expect((error as CliError).message).toMatch(message);
      }
    };
    const base = { k8sAttestation: 'ward:ward-agent', k8sApi: 'https://x' };
    usage(
      () => tokenReviewOf({ ...base, ...files, k8sCaFile: join(dir, 'none') }, {}),
      /--k8s-ca-file .*ENOENT/,
    );
    usage(
      () => tokenReviewOf({ ...base, ...files, k8sReviewerTokenFile: join(dir, 'none') }, {}),
      /--k8s-reviewer-token-file .*ENOENT/,
    );
    usage(() => tokenReviewOf({ k8sApi: 'https://x' }, {}), /need --k8s-attestation/);
    usage(() => tokenReviewOf({ k8sAttestation: 'ward:a', ...files }, {}), /give --k8s-api/);
    usage(
      () => tokenReviewOf({ ...base, ...files, k8sAttestation: 'ward:a,,b:c' }, {}),
      /item 2: ""/,
    );
  });

  it('property: any --k8s-attestation text gives namespace:serviceaccount pairs or a usage error, never a crash', () => {
    const name = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?$/);
    const pair = fc.tuple(name, name).map(([n, s]) => `${n}:${s}`);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary' }),
          fc.array(pair, { minLength: 1 }).map((p) => p.join(',')),
        ),
        (text) => {
          try {
            const config = tokenReviewOf(
              { k8sAttestation: text, k8sApi: 'https://x', ...files },
              {},
            )!;
            for (const sa of config.allowedServiceAccounts)
              expect(sa).toMatch(/^[a-z0-9-]+:[a-z0-9.-]+$/);
          } catch (error) {
            expect(error).toBeInstanceOf(CliError);
            expect((error as CliError).exitCode).toBe(2);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
