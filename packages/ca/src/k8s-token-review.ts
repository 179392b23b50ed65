import { request } from 'node:https';
import { CaError } from './errors.ts';

/** Where and how to validate Kubernetes projected service-account tokens (PSAT). */
export interface TokenReviewConfig {
  /** The kube-apiserver base URL, `https://…`. */
  url: string;
  /** PEM CA certificate(s) of the apiserver; default: the system roots. */
  caPem?: string;
  /** Bearer token of an identity allowed to `create` `tokenreviews`. */
  reviewerToken: string;
  /** Audience the agent's projected token must carry. Default `ward`. */
  audience?: string;
  /** `namespace:serviceaccount` pairs allowed to attest as agents, e.g. `ward:ward-agent`. */
  allowedServiceAccounts: readonly string[];
  /** Timeout of the review call, ms. Default 5000. */
  timeoutMs?: number;
}

/** What a successful TokenReview proves about the agent. */
export interface ReviewedServiceAccount {
  namespace: string;
  serviceAccount: string;
  podName: string | undefined;
  nodeName: string;
}

const SA_PREFIX = 'system:serviceaccount:';
const NODE_NAME_KEY = 'authentication.kubernetes.io/node-name';
const POD_NAME_KEY = 'authentication.kubernetes.io/pod-name';
const MAX_RESPONSE = 1024 * 1024;

/**
 * Validates a projected service-account token with the apiserver's TokenReview API
 * (`POST /apis/authentication.k8s.io/v1/tokenreviews`) and returns the service account and the
 * node the pod runs on. The node comes from the token's `authentication.kubernetes.io/node-name`
 * extra, which the apiserver adds for projected tokens bound to a pod (Kubernetes ≥ 1.30); without
 * it the agent cannot be tied to a node and is refused.
 *
 * Throws `CA_ATTESTATION_FAILED` when the token is not accepted, `CA_TOKEN_REVIEW_FAILED` when
 * the apiserver cannot be asked.
 */
export async function reviewServiceAccountToken(
  config: TokenReviewConfig,
  token: unknown,
): Promise<ReviewedServiceAccount> {
  if (typeof token !== 'string' || token.length === 0 || token.length > 16 * 1024) {
    throw new CaError('CA_ATTESTATION_FAILED', 'k8sToken: expected a service-account token', {
      field: 'k8sToken',
    });
  }
  const audience = config.audience ?? 'ward';
  const body = JSON.stringify({
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenReview',
    spec: { token, audiences: [audience] },
  });
  const review = (await postJson(config, '/apis/authentication.k8s.io/v1/tokenreviews', body)) as {
    status?: {
      authenticated?: boolean;
      error?: string;
      audiences?: string[];
      user?: { username?: string; extra?: Record<string, string[]> };
    };
  };
  const status = review?.status;
  if (status?.authenticated !== true) {
    throw new CaError(
      'CA_ATTESTATION_FAILED',
      `k8sToken: rejected by the apiserver${status?.error ? `: ${String(status.error).slice(0, 200)}` : ''}`,
      { field: 'k8sToken' },
    );
  }
  // An apiserver that does not support audiences echoes none; insist on ours.
  if (!Array.isArray(status.audiences) || !status.audiences.includes(audience)) {
    throw new CaError('CA_ATTESTATION_FAILED', `k8sToken: not issued for audience "${audience}"`, {
      field: 'k8sToken',
    });
  }
  const username = status.user?.username ?? '';
  if (!username.startsWith(SA_PREFIX)) {
    throw new CaError('CA_ATTESTATION_FAILED', 'k8sToken: not a service-account token', {
      field: 'k8sToken',
    });
  }
  const [namespace, serviceAccount, ...rest] = username.slice(SA_PREFIX.length).split(':');
  if (!namespace || !serviceAccount || rest.length > 0) {
    throw new CaError('CA_ATTESTATION_FAILED', 'k8sToken: malformed service-account username', {
      field: 'k8sToken',
    });
  }
  if (!config.allowedServiceAccounts.includes(`${namespace}:${serviceAccount}`)) {
    throw new CaError(
      'CA_ATTESTATION_FAILED',
      `k8sToken: service account ${namespace}:${serviceAccount} may not attest agents`,
      { field: 'k8sToken' },
    );
  }
  const nodeName = status.user?.extra?.[NODE_NAME_KEY]?.[0];
  if (typeof nodeName !== 'string' || nodeName === '') {
    throw new CaError(
      'CA_ATTESTATION_FAILED',
      'k8sToken: the token names no node (needs a pod-bound projected token, Kubernetes >= 1.30)',
      { field: 'k8sToken' },
    );
  }
  return { namespace, serviceAccount, podName: status.user?.extra?.[POD_NAME_KEY]?.[0], nodeName };
}

function postJson(config: TokenReviewConfig, path: string, body: string): Promise<unknown> {
  const failed = (why: string, cause?: unknown) =>
    new CaError('CA_TOKEN_REVIEW_FAILED', `TokenReview at ${config.url}: ${why}`, { cause });
  return new Promise((resolve, reject) => {
    let url: URL;
    try {
      url = new URL(path, config.url);
    } catch (cause) {
      reject(failed('bad URL', cause));
      return;
    }
    if (url.protocol !== 'https:') {
      reject(failed('the apiserver URL must be https'));
      return;
    }
    const req = request(
      url,
      {
        method: 'POST',
        ...(config.caPem ? { ca: config.caPem } : {}),
        headers: {
          'content-type': 'application/json',
          accept: 'application/json',
          authorization: `Bearer ${config.reviewerToken}`,
          'content-length': Buffer.byteLength(body),
        },
        timeout: config.timeoutMs ?? 5000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_RESPONSE) req.destroy(failed('response too large'));
          else chunks.push(c);
        });
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 201 && res.statusCode !== 200) {
            reject(failed(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
            return;
          }
          try {
            resolve(JSON.parse(text));
          } catch (cause) {
            reject(failed('response is not JSON', cause));
          }
        });
        res.on('error', (e) => reject(failed(e.message, e)));
      },
    );
    req.on('timeout', () => req.destroy(failed('timed out')));
    req.on('error', (e) => reject(e instanceof CaError ? e : failed(e.message, e)));
    req.end(body);
  });
}
