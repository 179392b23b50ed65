/**
 * Kubernetes TokenReview over the network, for PSAT agent attestation: the control plane's half.
 * The CA (`@ward/ca`, pure) decides what the answer means; this module only asks the apiserver.
 */
import { request } from 'node:https';
import {
  CaError,
  type K8sTokenReviewer,
  readTokenReview,
  type TokenReviewPolicy,
  tokenReviewRequest,
} from '@ward/ca';

/** Where and how to validate Kubernetes projected service-account tokens (PSAT). */
export interface TokenReviewConfig extends TokenReviewPolicy {
  /** The kube-apiserver base URL, `https://…`. */
  url: string;
  /** PEM CA certificate(s) of the apiserver; default: the system roots. */
  caPem?: string;
  /**
   * Bearer token of an identity allowed to `create` `tokenreviews`, or a function that reads it
   * at each review: in a pod the kubelet rotates the service-account token file under us.
   */
  reviewerToken: string | (() => string);
  /** Timeout of the review call, ms. Default 5000. */
  timeoutMs?: number;
}

const MAX_RESPONSE = 1024 * 1024;
const PATH = '/apis/authentication.k8s.io/v1/tokenreviews';

/**
 * The {@link K8sTokenReviewer} that asks the apiserver of `config` with the TokenReview API
 * (`POST /apis/authentication.k8s.io/v1/tokenreviews`). Throws `CA_TOKEN_REVIEW_FAILED` when the
 * apiserver cannot be asked, `CA_ATTESTATION_FAILED` when it does not vouch for the token.
 */
export function tokenReviewer(config: TokenReviewConfig): K8sTokenReviewer {
  return async (token) => {
    const body = JSON.stringify(tokenReviewRequest(token, config));
    return readTokenReview(await postJson(config, PATH, body), config);
  };
}

function postJson(config: TokenReviewConfig, path: string, body: string): Promise<unknown> {
  const failed = (why: string, cause?: unknown) =>
    new CaError('CA_TOKEN_REVIEW_FAILED', `TokenReview at ${config.url}: ${why}`, { cause });
  return new Promise((resolve, reject) => {
    let url: URL;
    let reviewerToken: string;
    try {
      url = new URL(path, config.url);
    } catch (cause) {
      reject(failed('bad URL', cause));
      return;
    }
    try {
      reviewerToken =
        typeof config.reviewerToken === 'string' ? config.reviewerToken : config.reviewerToken();
    } catch (cause) {
      reject(failed(`cannot read the reviewer token: ${(cause as Error).message}`, cause));
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
          authorization: `Bearer ${reviewerToken}`,
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
