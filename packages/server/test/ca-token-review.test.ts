import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { createCsr, generateKeyPair, generateSealKey, parseSealKey } from '@ward/ca';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caPlugin, tokenReviewer } from '../src/index.ts';
import { cleanupDirs, http, startTestServer, tempDir } from './helpers.ts';

const BIN = join(import.meta.dirname, '..', '..', 'cli', 'src', 'bin.ts');

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
  const reviewers: string[] = [];

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
          !['Bearer reviewer', 'Bearer reviewer-rotated'].includes(req.headers.authorization ?? '')
        ) {
          res.writeHead(403).end('{}');
          return;
        }
        const review = JSON.parse(body);
        seen.push(review);
        reviewers.push(req.headers.authorization!);
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

  // The deployment (deploy/base/control-plane) runs `ward server --k8s-attestation`: the flags
  // must reach the CA plugin, and the reviewer token must be re-read when the kubelet rotates it.
  it('`ward server --k8s-attestation` attests agents, re-reading the rotated reviewer token', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'ca.crt'), caPem);
    writeFileSync(join(dir, 'token'), 'reviewer\n');
    const proc = spawn(
      process.execPath,
      [
        BIN,
        'server',
        '--data-dir',
        dir,
        '--listen',
        '127.0.0.1:0',
        '-o',
        'json',
        '--k8s-attestation',
        'ward:ward-agent',
        '--k8s-api',
        url,
        '--k8s-ca-file',
        join(dir, 'ca.crt'),
        '--k8s-reviewer-token-file',
        join(dir, 'token'),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      const first = await new Promise<string>((resolve, reject) => {
        createInterface({ input: proc.stdout! }).once('line', resolve);
        proc.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
      });
      const base = JSON.parse(first).url as string;
      const csr = await createCsr(await generateKeyPair());
      const attest = (k8sToken: string) =>
        http(base, 'POST', '/v1/agent/attest', { token: null, body: { k8sToken, csr } });
      const ok = await attest('good');
      expect(ok.status).toBe(200);
      expect(ok.body.spiffeId).toBe('spiffe://ward.local/ward/agent/worker-1');
      expect(reviewers.at(-1)).toBe('Bearer reviewer');
      writeFileSync(join(dir, 'token'), 'reviewer-rotated\n');
      expect((await attest('good')).status).toBe(200);
      expect(reviewers.at(-1)).toBe('Bearer reviewer-rotated');
      const refused = await attest('other-sa');
      expect(refused.status).toBe(401);
      expect(refused.body.code).toBe('CA_ATTESTATION_FAILED');
    } finally {
      proc.kill('SIGTERM');
      if (proc.exitCode === null) await new Promise((r) => proc.once('exit', r));
    }
  });

  it('`ward server` refuses malformed --k8s-* options with exit 2 and the option named', async () => {
    const dir = tempDir();
    const run = (args: string[]) =>
      promisify(execFile)(process.execPath, [BIN, 'server', '--data-dir', dir, ...args], {
        env: { ...process.env, KUBERNETES_SERVICE_HOST: '', KUBERNETES_SERVICE_PORT: '' },
      }).then(
        () => ({ code: 0, stderr: '' }),
        (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
      );
    const cases: [string[], RegExp][] = [
      [['--k8s-attestation', 'ward/agent', '--k8s-api', url], /item 1: "ward\/agent"/],
      [['--k8s-audience', 'x'], /need --k8s-attestation/],
      [['--k8s-attestation', 'ward:ward-agent'], /give --k8s-api, or run in a pod/],
      [
        ['--k8s-attestation', 'ward:a', '--k8s-api', url, '--k8s-ca-file', join(dir, 'none')],
        /--k8s-reviewer-token-file|--k8s-ca-file/,
      ],
    ];
    for (const [args, message] of cases) {
      const r = await run(args);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });
});
