/**
 * `ward server --k8s-attestation …`: the flags that turn on Kubernetes projected service-account
 * token (PSAT) attestation of node agents, resolved to the server's `TokenReviewConfig`. Inside a
 * pod the defaults find the apiserver and the pod's own service-account token and CA, the way
 * client libraries do ("in-cluster config"); the flags override them (a server outside the cluster).
 */
import { readFileSync } from 'node:fs';
import type { TokenReviewConfig } from '@ward/server';
import { CliError } from '../errors.ts';

export interface TokenReviewFlags {
  k8sAttestation?: string;
  k8sAudience?: string;
  k8sApi?: string;
  k8sCaFile?: string;
  k8sReviewerTokenFile?: string;
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
// namespace:serviceaccount, both DNS-1123 names (a subdomain for the service account).
const SERVICE_ACCOUNT = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?:[a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?$/;

/** The apiserver URL from --k8s-api, else from the in-cluster service environment. */
function apiUrl(flags: TokenReviewFlags, env: NodeJS.ProcessEnv): string {
  if (flags.k8sApi) return flags.k8sApi;
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) {
    throw new CliError(
      'CLI_BAD_OPTION',
      '--k8s-attestation: give --k8s-api, or run in a pod (KUBERNETES_SERVICE_HOST/PORT are unset)',
      2,
    );
  }
  return `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

function readSmall(file: string, flag: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new CliError(
      'CLI_BAD_OPTION',
      `${flag} ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      2,
    );
  }
}

/**
 * The TokenReview configuration the flags ask for, or undefined without `--k8s-attestation`.
 * Fails at start (not at the first agent) when a file is missing or a service account malformed.
 */
export function tokenReviewOf(
  flags: TokenReviewFlags,
  env: NodeJS.ProcessEnv = process.env,
): TokenReviewConfig | undefined {
  if (flags.k8sAttestation === undefined) {
    const stray = [flags.k8sAudience, flags.k8sApi, flags.k8sCaFile, flags.k8sReviewerTokenFile];
    if (stray.some((v) => v !== undefined)) {
      throw new CliError('CLI_BAD_OPTION', 'the --k8s-* options need --k8s-attestation', 2);
    }
    return undefined;
  }
  const accounts = flags.k8sAttestation.split(',').map((s) => s.trim());
  accounts.forEach((sa, i) => {
    if (!SERVICE_ACCOUNT.test(sa)) {
      throw new CliError(
        'CLI_BAD_OPTION',
        `--k8s-attestation item ${i + 1}: "${sa}" is not namespace:serviceaccount`,
        2,
      );
    }
  });
  const url = apiUrl(flags, env);
  const tokenFile = flags.k8sReviewerTokenFile ?? `${SA_DIR}/token`;
  readSmall(tokenFile, '--k8s-reviewer-token-file');
  return {
    url,
    caPem: readSmall(flags.k8sCaFile ?? `${SA_DIR}/ca.crt`, '--k8s-ca-file'),
    // Read at every review: the kubelet rotates the projected token file in place.
    reviewerToken: () => readFileSync(tokenFile, 'utf8').trim(),
    allowedServiceAccounts: accounts,
    ...(flags.k8sAudience ? { audience: flags.k8sAudience } : {}),
  };
}
