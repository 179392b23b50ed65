/** Authentication and scope check for every route, driven by the route's `config.auth`. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '../auth/tokens.ts';
import { ServerError } from '../errors.ts';

export async function authHook(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
  if (request.is404) return;
  const auth = request.routeOptions.config.auth ?? ['admin'];
  if (auth === 'public') return;
  const header = request.headers.authorization;
  const match = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  if (!match) {
    throw new ServerError('API_UNAUTHENTICATED', 'send a token: Authorization: Bearer <token>', {
      errors: [
        {
          field: 'headers.authorization',
          message: header ? 'must be "Bearer <token>"' : 'is missing',
        },
      ],
    });
  }
  const principal = await request.server.ward.authenticator.authenticate(match[1]!);
  if (!principal) {
    throw new ServerError('API_UNAUTHENTICATED', 'the token is unknown or revoked', {
      errors: [{ field: 'headers.authorization', message: 'unknown or revoked token' }],
    });
  }
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

/** The principal of an authenticated route (set by `authHook`). */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new TypeError('principalOf: route has no authenticated principal');
  return request.principal;
}
