import {
  type AgentLeaseRequestV1,
  type LeaseV1,
  WIRE_CONNECTIONS_PATH,
  type WireBatchV1,
} from '@ward/api-types';
import { AGENT_PROOF_HEADER, type RegistrationEntry, signAgentProof } from '@ward/ca';
import { AgentError } from './errors.ts';

/** The agent's own identity, held in memory only. */
export interface AgentIdentity {
  spiffeId: string;
  node: string;
  privateKey: CryptoKey;
  /** PEM, leaf first. */
  chain: readonly string[];
  expiresAt: number;
}

/** An agent SVID as the control plane returns it. */
export interface AgentSvidReply {
  spiffeId: string;
  node: string;
  chain: string[];
  expiresAt: number;
  bundle: string;
}

/** A workload SVID as the control plane returns it. */
export interface IssuedSvidReply {
  entryId: string;
  spiffeId: string;
  chain: string[];
  notBefore: number;
  notAfter: number;
}

/** HTTP client of the control plane's agent API, signing a proof on every authenticated call. */
export class ControlPlaneClient {
  readonly #base: string;
  readonly #timeoutMs: number;

  constructor(baseUrl: string, options: { timeoutMs?: number } = {}) {
    let url: URL;
    try {
      url = new URL(baseUrl);
    } catch (cause) {
      throw new AgentError('AGENT_BAD_OPTIONS', `control plane URL "${baseUrl}" is not a URL`, {
        cause,
      });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new AgentError('AGENT_BAD_OPTIONS', 'the control plane URL must be http(s)://');
    }
    this.#base = url.href.replace(/\/$/, '');
    this.#timeoutMs = options.timeoutMs ?? 10_000;
  }

  attest(body: { joinToken?: string; k8sToken?: string; csr: string }): Promise<AgentSvidReply> {
    return this.#call('POST', '/v1/agent/attest', body, undefined);
  }

  renew(identity: AgentIdentity, csr: string): Promise<AgentSvidReply> {
    return this.#call('POST', '/v1/agent/renew', { csr }, identity);
  }

  sync(
    identity: AgentIdentity,
  ): Promise<{ entries: RegistrationEntry[]; bundle: string; jwtBundle: { keys: unknown[] } }> {
    return this.#call('GET', '/v1/agent/sync', undefined, identity);
  }

  issue(
    identity: AgentIdentity,
    csrs: { entryId: string; csr: string }[],
  ): Promise<{ svids: IssuedSvidReply[]; bundle: string }> {
    return this.#call('POST', '/v1/agent/svids', { csrs }, identity);
  }

  jwt(
    identity: AgentIdentity,
    entryId: string,
    audience: string[],
  ): Promise<{ spiffeId: string; token: string; expiresAt: number }> {
    return this.#call('POST', '/v1/agent/jwt-svids', { entryId, audience }, identity);
  }

  /** Ships the edges wire sampling observed on this node (`wire/sampler.ts`). */
  reportConnections(
    identity: AgentIdentity,
    batch: WireBatchV1,
  ): Promise<{ accepted: number; rejected: number }> {
    return this.#call('POST', WIRE_CONNECTIONS_PATH, batch, identity);
  }

  /** Reports the node's status (`POST /v1/status/agent`, 204). */
  reportStatus(identity: AgentIdentity, report: unknown): Promise<void> {
    return this.#call('POST', '/v1/status/agent', report, identity);
  }

  /** The signed bundle of one service of this node (the control plane checks the scope). */
  bundle(identity: AgentIdentity, service: string): Promise<unknown> {
    return this.#call(
      'GET',
      `/v1/agent/bundles/${encodeURIComponent(service)}`,
      undefined,
      identity,
    );
  }

  /** Takes a lease on a dynamic credential for `request.service` (`POST /v1/agent/leases`). */
  createLease(identity: AgentIdentity, request: AgentLeaseRequestV1): Promise<LeaseV1> {
    return this.#call('POST', '/v1/agent/leases', request, identity);
  }

  /** Extends a lease this agent took (never past its `maxExpiresAt`). */
  renewLease(identity: AgentIdentity, id: string): Promise<{ id: string; expiresAt: number }> {
    return this.#call(
      'POST',
      `/v1/agent/leases/${encodeURIComponent(id)}/renew`,
      undefined,
      identity,
    );
  }

  /** Gives a lease back: the control plane drops the login now (204). */
  revokeLease(identity: AgentIdentity, id: string): Promise<void> {
    return this.#call('DELETE', `/v1/agent/leases/${encodeURIComponent(id)}`, undefined, identity);
  }

  /**
   * Opens the agent's bundle stream (`GET /v1/agent/watch`, server-sent events). Resolves with
   * the response once headers arrive; throws `AGENT_CONTROL_PLANE` on a refusal.
   */
  async watch(identity: AgentIdentity, signal: AbortSignal): Promise<Response> {
    const path = '/v1/agent/watch';
    let res: Response;
    // The timeout covers the response headers only: the body is a stream meant to stay open
    // (the feed's own heartbeat allowance bounds its silences).
    const headers = new AbortController();
    const timer = setTimeout(() => headers.abort(), this.#timeoutMs);
    const stop = () => headers.abort();
    signal.addEventListener('abort', stop, { once: true });
    try {
      res = await fetch(`${this.#base}${path}`, {
        headers: {
          accept: 'text/event-stream',
          [AGENT_PROOF_HEADER]: await this.#proof(identity, 'GET', path),
        },
        signal: headers.signal,
      });
    } catch (cause) {
      signal.removeEventListener('abort', stop);
      throw new AgentError('AGENT_CONTROL_PLANE', `GET ${path}: control plane unreachable`, {
        cause,
      });
    } finally {
      clearTimeout(timer);
    }
    if (!res.ok) {
      const text = await res.text().catch(() => '');
      throw new AgentError(
        'AGENT_CONTROL_PLANE',
        `GET ${path}: HTTP ${res.status} ${problemDetail(text)}`,
        {
          status: res.status,
        },
      );
    }
    return res;
  }

  /** The proof header of a request this agent makes elsewhere (its decision-log shipper). */
  async proofHeaders(
    identity: AgentIdentity,
    method: string,
    path: string,
  ): Promise<Record<string, string>> {
    return { [AGENT_PROOF_HEADER]: await this.#proof(identity, method, path) };
  }

  #proof(identity: AgentIdentity, method: string, path: string): Promise<string> {
    return signAgentProof({
      privateKey: identity.privateKey,
      chainPem: identity.chain,
      spiffeId: identity.spiffeId,
      method,
      path,
    });
  }

  async #call<T>(
    method: string,
    path: string,
    body: unknown,
    identity: AgentIdentity | undefined,
  ): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (identity) headers[AGENT_PROOF_HEADER] = await this.#proof(identity, method, path);
    let res: Response;
    try {
      res = await fetch(`${this.#base}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (cause) {
      throw new AgentError('AGENT_CONTROL_PLANE', `${method} ${path}: control plane unreachable`, {
        cause,
      });
    }
    const text = await res.text().catch(() => '');
    if (res.status === 204) return undefined as T;
    if (!res.ok) {
      throw new AgentError(
        'AGENT_CONTROL_PLANE',
        `${method} ${path}: HTTP ${res.status} ${problemDetail(text)}`,
        { status: res.status },
      );
    }
    try {
      return JSON.parse(text) as T;
    } catch (cause) {
      throw new AgentError('AGENT_CONTROL_PLANE', `${method} ${path}: response is not JSON`, {
        cause,
      });
    }
  }
}

/** `code detail` of a problem body, or the start of any other body. */
function problemDetail(text: string): string {
  try {
    const p = JSON.parse(text) as { code?: string; detail?: string };
    return `${p.code ?? ''} ${p.detail ?? ''}`.trim();
  } catch {
    return text.slice(0, 300);
  }
}
