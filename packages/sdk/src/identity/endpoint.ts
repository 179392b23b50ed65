import { IdentityError } from './errors.ts';

/**
 * The Workload API socket path from an explicit option or `SPIFFE_ENDPOINT_SOCKET`
 * (`unix:///run/ward/agent.sock`, `unix:/run/…`, or a bare absolute path). SPIFFE Workload
 * Endpoint §4: only `unix` (and `tcp`, not supported here) schemes.
 */
export function workloadSocketPath(
  explicit?: string,
  env: NodeJS.ProcessEnv = process.env,
): string {
  const raw = explicit ?? env.SPIFFE_ENDPOINT_SOCKET;
  if (!raw) {
    throw new IdentityError(
      'IDENTITY_NO_ENDPOINT',
      'no Workload API socket: pass socketPath or set SPIFFE_ENDPOINT_SOCKET',
    );
  }
  let path = raw;
  if (raw.startsWith('unix://')) path = raw.slice('unix://'.length);
  else if (raw.startsWith('unix:')) path = raw.slice('unix:'.length);
  else if (/^[a-z][a-z0-9+.-]*:/i.test(raw)) {
    throw new IdentityError(
      'IDENTITY_BAD_ENDPOINT',
      `SPIFFE_ENDPOINT_SOCKET "${raw}": only unix: sockets are supported`,
    );
  }
  if (!path.startsWith('/') || path.includes('?') || path.includes('#')) {
    throw new IdentityError(
      'IDENTITY_BAD_ENDPOINT',
      `SPIFFE_ENDPOINT_SOCKET "${raw}": needs an absolute socket path`,
    );
  }
  return path;
}
