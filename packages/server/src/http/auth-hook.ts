/**
 * Authentication and scope check for every route, driven by the route's `config.auth`. A
 * request authenticates with `Authorization: Bearer <token>`, or, on the TLS listener, with the
 * client SVID it presented in the handshake (a `pdp` principal of the service that SPIFFE ID
 * names). A bearer token, when sent, always wins: the certificate is then not consulted.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { peerSvid } from '../auth/mtls.ts';
import { owns, type Principal } from '../auth/tokens.ts';
import { ServerError } from '../errors.ts';

export async function authHook(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
  if (request.is404) return;
  const auth = request.routeOptions.config.auth ?? ['admin'];
  if (auth === 'public') return;
  const principal = await authenticate(request);
  if (!auth.includes(principal.scope)) {
    throw new ServerError(
      'API_FORBIDDEN',
      `a ${principal.scope} token may not ${request.method} ${request.routeOptions.url}`,
      {
        errors: [
          {
            field: 'headers.authorization',
            message: `needs a token with scope ${auth.join(' or ')}`,
          },
        ],
      },
    );
  }
  request.principal = principal;
}

async function authenticate(request: FastifyRequest): Promise<Principal> {
  const header = request.headers.authorization;
  let certificateProblem: string | undefined;
  if (header === undefined) {
    const viaCertificate = await certificatePrincipal(request);
    if (typeof viaCertificate !== 'string') return viaCertificate;
    certificateProblem = viaCertificate;
  }
  const match = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  if (!match) {
    throw new ServerError(
      'API_UNAUTHENTICATED',
      `send a token: Authorization: Bearer <token>${certificateProblem ? `, or a client SVID (${certificateProblem})` : ''}`,
      {
        errors: [
          {
            field: 'headers.authorization',
            message: header ? 'must be "Bearer <token>"' : 'is missing',
          },
        ],
      },
    );
  }
  const principal = await request.server.ward.authenticator.authenticate(match[1]!);
  if (!principal) {
    throw new ServerError('API_UNAUTHENTICATED', 'the token is unknown or revoked', {
      errors: [{ field: 'headers.authorization', message: 'unknown or revoked token' }],
    });
  }
  return principal;
}

/**
 * The `pdp` principal of the client SVID on this connection, or why there is none (no
 * certificate, not an SVID, or a SPIFFE ID that is no stored service's identity).
 */
async function certificatePrincipal(request: FastifyRequest): Promise<Principal | string> {
  const { clientRoots, identities } = request.server.ward;
  if (!clientRoots) return 'this listener does not take client certificates';
  const svid = peerSvid(request.raw.socket, clientRoots);
  if (!svid) return 'none presented, or not a valid SVID of the client CA';
  const service = await identities.serviceOf(svid.spiffeId);
  if (service === undefined) return `${svid.spiffeId} is the identity of no service`;
  return {
    id: svid.spiffeId,
    name: svid.spiffeId,
    scope: 'pdp',
    services: new Set([service]),
    namespaces: new Set(),
    via: 'mtls',
    expiresAt: svid.expiresAt,
  };
}

/**
 * Refuses a `pdp` principal access to another service's data: a PDP speaks for its one service
 * (its bound token, or its SVID) and reads only that service's bundle and stream. Other scopes
 * pass (their route's `config.auth` already decided).
 */
export function requireOwnService(
  principal: Principal,
  service: string | undefined,
  field: string,
): void {
  if (principal.scope !== 'pdp') return;
  if (service !== undefined && owns(principal, service)) return;
  const own = [...principal.services][0];
  throw new ServerError(
    'API_FORBIDDEN',
    service === undefined
      ? `a pdp credential must name its service (${own ?? 'it is bound to none'})`
      : `a pdp credential for ${own ?? 'no service'} may not read ${service}`,
    {
      errors: [
        {
          field,
          message: own
            ? `must be ${own}`
            : 'this pdp token is bound to no service; create a new one with one service',
        },
      ],
    },
  );
}

/** The principal of an authenticated route (set by `authHook`). */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new TypeError('principalOf: route has no authenticated principal');
  return request.principal;
}
