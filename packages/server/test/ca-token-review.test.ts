import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCsr, generateKeyPair, generateSealKey, parseSealKey } from '@ward/ca';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caPlugin, tokenReviewer } from '../src/index.ts';
import { cleanupDirs, http, startTestServer } from './helpers.ts';

afterAll(() => cleanupDirs());

/** Runs the real openssl CLI over files written to a temp dir; returns stdout. */
function openssl(files: Record<string, string>, args: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'ward-k8s-ossl-'));
  try {
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    return execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' }).toString();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('Kubernetes PSAT attestation: the control plane asks the apiserver', () => {
  // A stand-in for the kube-apiserver: a real HTTPS server on loopback that answers
  // POST /apis/authentication.k8s.io/v1/tokenreviews the way the TokenReview API does.
  let server: ReturnType<typeof createHttpsServer>;
  let url: string;
  let caPem: string;
  const seen: unknown[] = [];

  beforeAll(async () => {
    const key = openssl({}, ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']);
    caPem = openssl({ 'k.pem': key }, [
      'req',
      '-x509',
      '-key',
      'k.pem',
      '-subj',
      '/CN=kube-apiserver',
      '-days',
      '1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ]);
    server = createHttpsServer({ key, cert: caPem }, (req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        if (
          req.url !== '/apis/authentication.k8s.io/v1/tokenreviews' ||
          req.headers.authorization !== 'Bearer reviewer'
        ) {
          res.writeHead(403).end('{}');
          return;
        }
        const review = JSON.parse(body);
        seen.push(review);
        const token = review.spec.token as string;
        const status =
          token === 'good'
            ? {
                authenticated: true,
                audiences: review.spec.audiences,
                user: {
                  username: 'system:serviceaccount:ward:ward-agent',
                  extra: {
                    'authentication.kubernetes.io/node-name': ['worker-1'],
                    'authentication.kubernetes.io/pod-name': ['ward-agent-x'],
                  },
                },
              }
            : token === 'other-sa'
              ? {
                  authenticated: true,
                  audiences: review.spec.audiences,
                  user: { username: 'system:serviceaccount:default:app' },
                }
              : { authenticated: false, error: 'invalid bearer token' };
        res
          .writeHead(201, { 'content-type': 'application/json' })
          .end(
            JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', status }),
          );
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('attests an agent over the control plane API from a reviewed token and refuses others', async () => {
    const server = await startTestServer({
      plugins: [
        caPlugin({
          sealKey: parseSealKey(generateSealKey()),
          tokenReview: {
            url,
            caPem,
            reviewerToken: 'reviewer',
            allowedServiceAccounts: ['ward:ward-agent'],
          },
        }),
      ],
    });
    try {
      const csr = await createCsr(await generateKeyPair());
      const attest = (k8sToken: string) =>
        http(server.url, 'POST', '/v1/agent/attest', { token: null, body: { k8sToken, csr } });
      const ok = await attest('good');
      expect(ok.status).toBe(200);
      expect(ok.body.spiffeId).toBe('spiffe://ward.local/ward/agent/worker-1');
      expect(seen.at(-1)).toMatchObject({
        kind: 'TokenReview',
        spec: { token: 'good', audiences: ['ward'] },
      });
      for (const token of ['forged', 'other-sa']) {
        const r = await attest(token);
        expect(r.status).toBe(401);
        expect(r.body.code).toBe('CA_ATTESTATION_FAILED');
      }
    } finally {
      await server.close();
    }
  });

  it('reports an apiserver it cannot trust as CA_TOKEN_REVIEW_FAILED', async () => {
    // No caPem: the stand-in's self-signed certificate is not trusted.
    const review = tokenReviewer({ url, reviewerToken: 'reviewer', allowedServiceAccounts: [] });
    await expect(review('good')).rejects.toMatchObject({ code: 'CA_TOKEN_REVIEW_FAILED' });
    const plain = tokenReviewer({
      url: url.replace('https:', 'http:'),
      reviewerToken: 'reviewer',
      allowedServiceAccounts: [],
    });
    await expect(plain('good')).rejects.toMatchObject({ code: 'CA_TOKEN_REVIEW_FAILED' });
  });
});
