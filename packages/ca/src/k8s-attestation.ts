import { CaError } from './errors.ts';

/**
 * Kubernetes projected service-account token (PSAT) attestation, the pure half: which service
 * accounts may attest as agents, and how a TokenReview answer is read. The call to the apiserver
 * is the control plane's (`@ward/server`), which hands {@link CaService} a {@link K8sTokenReviewer}.
 */

/** What a successful TokenReview proves about the agent. */
export interface ReviewedServiceAccount {
  namespace: string;
  serviceAccount: string;
  podName: string | undefined;
  nodeName: string;
}

/**
 * Asks the apiserver about a projected token and reads the answer (with {@link readTokenReview}).
 * Throws `CA_ATTESTATION_FAILED` when the token is not accepted, `CA_TOKEN_REVIEW_FAILED` when the
 * apiserver cannot be asked.
 */
export type K8sTokenReviewer = (token: string) => Promise<ReviewedServiceAccount>;

/** Who may attest: the audience the token must carry and the allowed service accounts. */
export interface TokenReviewPolicy {
  /** Audience the agent's projected token must carry. Default `ward`. */
  audience?: string;
  /** `namespace:serviceaccount` pairs allowed to attest as agents, e.g. `ward:ward-agent`. */
  allowedServiceAccounts: readonly string[];
}

const SA_PREFIX = 'system:serviceaccount:';
const NODE_NAME_KEY = 'authentication.kubernetes.io/node-name';
const POD_NAME_KEY = 'authentication.kubernetes.io/pod-name';
const MAX_TOKEN = 16 * 1024;

const refuse = (why: string): never => {
  throw new CaError('CA_ATTESTATION_FAILED', `k8sToken: ${why}`, { field: 'k8sToken' });
};

/** The agent's token, checked for shape before it is sent anywhere. */
export function parseK8sToken(token: unknown): string {
  if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN) {
    return refuse('expected a service-account token');
  }
  return token;
}

/** The `TokenReview` object to `POST /apis/authentication.k8s.io/v1/tokenreviews`. */
export function tokenReviewRequest(token: string, policy: TokenReviewPolicy): object {
  return {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenReview',
    spec: { token, audiences: [policy.audience ?? 'ward'] },
  };
}

interface TokenReviewStatus {
  authenticated?: boolean;
  error?: string;
  audiences?: string[];
  user?: { username?: string; extra?: Record<string, string[]> };
}

/**
 * Reads the apiserver's answer: the token is authenticated, for our audience, of an allowed
 * service account, and names the node the pod runs on (the `authentication.kubernetes.io/node-name`
 * extra of pod-bound projected tokens, Kubernetes ≥ 1.30; without it the agent cannot be tied to a
 * node and is refused). Throws `CA_ATTESTATION_FAILED`.
 */
export function readTokenReview(
  review: unknown,
  policy: TokenReviewPolicy,
): ReviewedServiceAccount {
  const audience = policy.audience ?? 'ward';
  const status = (review as { status?: TokenReviewStatus } | null)?.status;
  if (status?.authenticated !== true) {
    const why = status?.error ? `: ${String(status.error).slice(0, 200)}` : '';
    return refuse(`rejected by the apiserver${why}`);
  }
  // An apiserver that does not support audiences echoes none; insist on ours.
  if (!Array.isArray(status.audiences) || !status.audiences.includes(audience)) {
    return refuse(`not issued for audience "${audience}"`);
  }
  const username = status.user?.username ?? '';
  if (!username.startsWith(SA_PREFIX)) return refuse('not a service-account token');
  const [namespace, serviceAccount, ...rest] = username.slice(SA_PREFIX.length).split(':');
  if (!namespace || !serviceAccount || rest.length > 0) {
    return refuse('malformed service-account username');
  }
  if (!policy.allowedServiceAccounts.includes(`${namespace}:${serviceAccount}`)) {
    return refuse(`service account ${namespace}:${serviceAccount} may not attest agents`);
  }
  const nodeName = status.user?.extra?.[NODE_NAME_KEY]?.[0];
  if (typeof nodeName !== 'string' || nodeName === '') {
    return refuse(
      'the token names no node (needs a pod-bound projected token, Kubernetes >= 1.30)',
    );
  }
  return { namespace, serviceAccount, podName: status.user?.extra?.[POD_NAME_KEY]?.[0], nodeName };
}
