/**
 * Routes a node agent calls with its proof header instead of a bearer token (wire edges, decision
 * logs of its local decision API, leases of dynamic secrets): one schema for the header and one
 * pre-validation that authenticates the agent before its body is validated, so a stranger learns
 * nothing about the schema.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ServerError } from '../errors.ts';

/** The header carrying the agent's proof (bound to the method and path it signs). */
export const AGENT_PROOF_HEADER = 'x-ward-agent-proof';

/** The `headers` schema of an agent-authenticated route. */
export const agentProofHeaders = {
  type: 'object',
  properties: { [AGENT_PROOF_HEADER]: { type: 'string' } },
} as const;

/** The agent a request was authenticated as. */
export interface ProvenAgent {
  spiffeId: string;
  node: string;
}

const kAgent = Symbol('ward.provenAgent');

/**
 * A `preValidation` hook: authenticates the agent's proof for this request's method and path
 * (without the query); `what` names the feature in the 404 when no CA can authenticate agents.
 */
export function agentProofAuth(app: FastifyInstance, what: string) {
  return async (request: FastifyRequest): Promise<void> => {
    const agents = app.ward.agents;
    if (!agents) {
      throw new ServerError(
        'API_NOT_FOUND',
        `${what}: no agent can authenticate here without the identity CA (caPlugin)`,
      );
    }
    (request as { [kAgent]?: ProvenAgent })[kAgent] = await agents.authenticate(
      request.headers[AGENT_PROOF_HEADER],
      request.method,
      request.url.split('?')[0]!,
    );
  };
}

/** The agent `agentProofAuth` authenticated for this request. */
export function provenAgent(request: FastifyRequest): ProvenAgent {
  const agent = (request as { [kAgent]?: ProvenAgent })[kAgent];
  if (agent === undefined) throw new Error('agentProofAuth did not run for this route');
  return agent;
}
