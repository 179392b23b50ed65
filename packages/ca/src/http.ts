import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { PROBLEM_MEDIA_TYPE, type ProblemV1, problemBody } from '@ward/api-types';
import { AGENT_PROOF_HEADER } from './agent-proof.ts';
import { CaError } from './errors.ts';
import type { CaService } from './service.ts';

/** Who may call a route: an admin token, an attested agent (proof header), or anyone. */
export type CaRouteAuth = 'admin' | 'agent' | 'public';

/** The request as the route handler sees it, already authenticated. */
export interface CaRouteRequest {
  params: Record<string, string>;
  query: Record<string, string | undefined>;
  body: unknown;
  /** Set on `agent` routes. */
  agent?: { spiffeId: string; node: string };
}

/** A route's answer: status, body, and a content type when not JSON. */
export interface CaRouteReply {
  status: number;
  body: unknown;
  contentType?: string;
}

/** One CA endpoint, framework-neutral (paths use `:param` like Fastify). */
export interface CaRoute {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  auth: CaRouteAuth;
  summary: string;
  handle(request: CaRouteRequest): Promise<CaRouteReply>;
}

const json = (status: number, body: unknown): CaRouteReply => ({ status, body });

/**
 * The control plane's CA API. Admin: join tokens, registration entries, rotation. Agent:
 * attestation (authenticated by the join or Kubernetes token in the body), renewal, sync,
 * issuance. Public: the trust bundle.
 */
export function caRoutes(service: CaService): CaRoute[] {
  return [
    {
      method: 'GET',
      path: '/v1/trust-bundle',
      auth: 'public',
      summary: 'Trust bundle: root certificates as PEM, or the SPIFFE bundle with ?format=spiffe',
      async handle(req) {
        if (req.query.format === 'spiffe') return json(200, await service.spiffeBundle());
        if (req.query.format !== undefined && req.query.format !== 'pem') {
          throw new CaError('CA_BAD_REQUEST', 'query.format: "pem" or "spiffe"', {
            field: 'query.format',
          });
        }
        return {
          status: 200,
          body: await service.trustBundlePem(),
          contentType: 'application/x-pem-file',
        };
      },
    },
    {
      method: 'GET',
      path: '/v1/jwt-bundle',
      auth: 'public',
      summary: 'JWT-SVID signing keys as a JWK Set',
      handle: async () => json(200, await service.jwtBundle()),
    },
    {
      method: 'POST',
      path: '/v1/ca/join-tokens',
      auth: 'admin',
      summary: 'Create a one-time join token for a node agent',
      handle: async (req) =>
        json(201, await service.createJoinToken((req.body ?? {}) as { node: unknown })),
    },
    {
      method: 'GET',
      path: '/v1/ca/entries',
      auth: 'admin',
      summary: 'List registration entries (?node=NAME)',
      handle: async (req) =>
        json(200, {
          entries: await service.listEntries(
            req.query.node === undefined ? {} : { node: req.query.node },
          ),
        }),
    },
    {
      method: 'POST',
      path: '/v1/ca/entries',
      auth: 'admin',
      summary: 'Create a registration entry',
      handle: async (req) => json(201, await service.createEntry(req.body)),
    },
    {
      method: 'GET',
      path: '/v1/ca/entries/:id',
      auth: 'admin',
      summary: 'Read a registration entry',
      handle: async (req) => json(200, await service.getEntry(req.params.id ?? '')),
    },
    {
      method: 'DELETE',
      path: '/v1/ca/entries/:id',
      auth: 'admin',
      summary: 'Delete a registration entry',
      async handle(req) {
        await service.deleteEntry(req.params.id ?? '');
        return { status: 204, body: undefined };
      },
    },
    {
      method: 'POST',
      path: '/v1/ca/rotate',
      auth: 'admin',
      summary: 'Rotate the signing intermediate (body {"jwt": true} rotates the JWT key too)',
      async handle(req) {
        const intermediate = await service.rotateIntermediate();
        const jwt =
          (req.body as { jwt?: unknown } | null)?.jwt === true
            ? await service.rotateJwtKey()
            : undefined;
        return json(200, { intermediate, ...(jwt ? { jwt } : {}) });
      },
    },
    {
      method: 'POST',
      path: '/v1/ca/root/:step',
      auth: 'admin',
      summary:
        'Rotate the root: step prepare (joins the bundle), activate (signs), retire (old roots leave)',
      async handle(req) {
        const step = req.params.step;
        if (step === 'prepare') return json(200, await service.prepareRoot());
        if (step === 'activate') return json(200, await service.activateRoot());
        if (step === 'retire') return json(200, await service.retireRoots());
        throw new CaError('CA_BAD_REQUEST', 'params.step: prepare, activate or retire', {
          field: 'params.step',
        });
      },
    },
    {
      method: 'DELETE',
      path: '/v1/ca/agents/:node',
      auth: 'admin',
      summary:
        "Revoke a node's agent: its proofs are refused from now on and its streams end (re-attest with a new join token)",
      async handle(req) {
        await service.revokeAgent(req.params.node ?? '');
        return { status: 204, body: undefined };
      },
    },
    {
      method: 'POST',
      path: '/v1/agent/attest',
      auth: 'public',
      summary: 'Attest a node agent (join token or Kubernetes token) and sign its CSR',
      handle: async (req) => json(200, await service.attestAgent(req.body)),
    },
    {
      method: 'POST',
      path: '/v1/agent/renew',
      auth: 'agent',
      summary: "Renew the calling agent's own SVID",
      handle: async (req) => json(200, await service.renewAgent(req.agent!, req.body)),
    },
    {
      method: 'GET',
      path: '/v1/agent/sync',
      auth: 'agent',
      summary: "The calling agent's registration entries and the current bundles",
      handle: async (req) => json(200, await service.agentSync(req.agent!)),
    },
    {
      method: 'POST',
      path: '/v1/agent/svids',
      auth: 'agent',
      summary: "Sign X.509-SVIDs for the calling agent's entries",
      handle: async (req) => json(200, await service.issueForAgent(req.agent!, req.body)),
    },
    {
      method: 'POST',
      path: '/v1/agent/jwt-svids',
      auth: 'agent',
      summary: "Sign a JWT-SVID for one of the calling agent's entries",
      handle: async (req) => json(200, await service.jwtForAgent(req.agent!, req.body)),
    },
  ];
}

/**
 * `application/problem+json` body for an error (CaError → its code and status), built by the
 * shared builder so the CA answers like the rest of the control plane. Anything else is a 500
 * that says nothing about internals.
 */
export function caProblem(error: unknown, instance?: string): { status: number; body: ProblemV1 } {
  const at = instance === undefined ? {} : { instance };
  if (error instanceof CaError) {
    return {
      status: error.statusCode,
      body: problemBody({
        status: error.statusCode,
        code: error.code,
        detail: error.message,
        ...at,
        ...(error.field
          ? { errors: [{ field: error.field, message: error.message, code: error.code }] }
          : {}),
      }),
    };
  }
  return {
    status: 500,
    body: problemBody({
      status: 500,
      code: 'API_INTERNAL',
      detail: 'an internal error occurred; it has been logged',
      ...at,
    }),
  };
}

/**
 * A `node:http` listener serving {@link caRoutes}: the CA without the rest of the control plane,
 * for tests and single-purpose deployments. `isAdmin` checks the Authorization header.
 */
export function caRequestListener(
  service: CaService,
  options: { isAdmin(authorization: string | undefined): boolean | Promise<boolean> },
): RequestListener {
  const routes = caRoutes(service).map((r) => ({ ...r, match: compile(r.path) }));
  return (req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      try {
        const url = new URL(req.url ?? '/', 'http://local');
        let params: Record<string, string> | undefined;
        const route = routes.find((r) => {
          if (r.method !== req.method) return false;
          params = r.match(url.pathname);
          return params !== undefined;
        });
        if (!route || !params)
          throw new CaError('CA_BAD_REQUEST', `no route ${req.method} ${url.pathname}`);
        const body = req.method === 'POST' ? await readJson(req) : undefined;
        let agent: { spiffeId: string; node: string } | undefined;
        if (route.auth === 'admin' && !(await options.isAdmin(req.headers.authorization))) {
          throw new CaError('CA_NOT_AUTHORIZED', 'an admin token is required');
        }
        if (route.auth === 'agent') {
          agent = await service.authenticateAgent(
            req.headers[AGENT_PROOF_HEADER],
            req.method!,
            url.pathname,
          );
        }
        const query = Object.fromEntries(url.searchParams);
        const reply = await route.handle({ params, query, body, ...(agent ? { agent } : {}) });
        send(res, reply.status, reply.body, reply.contentType);
      } catch (error) {
        const p = caProblem(error, (req.url ?? '/').split('?')[0]);
        send(res, p.status, p.body, PROBLEM_MEDIA_TYPE);
      }
    })();
  };
}

function send(res: ServerResponse, status: number, body: unknown, contentType?: string): void {
  if (body === undefined) {
    res.writeHead(status).end();
    return;
  }
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': contentType ?? 'application/json' }).end(text);
}

function compile(path: string): (pathname: string) => Record<string, string> | undefined {
  const parts = path.split('/');
  return (pathname) => {
    const got = pathname.split('/');
    if (got.length !== parts.length) return undefined;
    const params: Record<string, string> = {};
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (p.startsWith(':')) params[p.slice(1)] = decodeURIComponent(got[i]!);
      else if (p !== got[i]) return undefined;
    }
    return params;
  };
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > 256 * 1024)
      throw new CaError('CA_BAD_REQUEST', 'body: larger than 256 KiB', { field: 'body' });
    chunks.push(c);
  }
  if (size === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new CaError('CA_BAD_REQUEST', 'body: not valid JSON', { field: 'body' });
  }
}
