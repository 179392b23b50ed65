/**
 * `GET /v1/graph/export?target=istio|networkpolicy`: the stored policy exported as Istio
 * AuthorizationPolicies or Kubernetes NetworkPolicies (issue 14), with the report of every rule
 * part the target cannot carry — the same `@ward/graph` exporters `ward graph export -f POLICY_DIR`
 * runs. The graph is the Service documents only: the control plane knows no pod ports or service
 * accounts, so each policy lives in its service's namespace, selects `app.kubernetes.io/name:
 * <name>` (the plain name) and leaves ports open (warned).
 *
 * A team token gets the policies that select its services and the report of their rules only;
 * who calls them (principals, peers) is in those policies, as it is in `GET /v1/graph`.
 */
import {
  GraphBuilder,
  GraphError,
  readWardServices,
  toIstioPoliciesFromRules,
  toNetworkPoliciesFromRules,
} from '@ward/graph';
import type { PolicySet } from '@ward/policy';
import { canonicalServiceKey, splitServiceKey } from '@ward/spiffe';
import type { FastifyInstance } from 'fastify';
import { ownedAmong } from '../auth/tokens.ts';
import { ServerError } from '../errors.ts';
import { principalOf } from '../http/auth-hook.ts';
import { bearer, problemResponses } from '../http/schemas.ts';
import { compileStored } from './approvals.ts';

const response = {
  type: 'object',
  required: ['target', 'manifests', 'unexpressed', 'warnings', 'skipped'],
  properties: {
    target: { type: 'string', enum: ['istio', 'networkpolicy'] },
    manifests: { type: 'array', items: { type: 'object', additionalProperties: true } },
    unexpressed: {
      type: 'array',
      items: {
        type: 'object',
        required: ['rule', 'what', 'why'],
        properties: { rule: { type: 'string' }, what: { type: 'string' }, why: { type: 'string' } },
      },
    },
    warnings: { type: 'array', items: { type: 'string' } },
    skipped: {
      type: 'array',
      items: {
        type: 'object',
        required: ['item', 'reason'],
        properties: { item: { type: 'string' }, reason: { type: 'string' } },
      },
    },
  },
} as const;

type Json = Record<string, unknown>;

/**
 * The key of the service a manifest selects — its namespace and `app.kubernetes.io/name`, the
 * plain name — or undefined for namespace-wide ones. The label alone is not the service:
 * `team-a/payments` and `team-b/payments` both carry `payments`.
 */
function selected(m: Json): string | undefined {
  const spec = m.spec as {
    selector?: { matchLabels?: Json };
    podSelector?: { matchLabels?: Json };
  };
  const labels = spec.selector?.matchLabels ?? spec.podSelector?.matchLabels;
  const name = labels?.['app.kubernetes.io/name'];
  if (typeof name !== 'string') return undefined;
  // The label holds the name within the manifest's namespace: the service is that key.
  const namespace = (m.metadata as { namespace?: unknown } | undefined)?.namespace;
  return name.includes('/')
    ? canonicalServiceKey(name)
    : canonicalServiceKey(name, typeof namespace === 'string' ? namespace : undefined);
}

type ExportBody = ReturnType<typeof toIstioPoliciesFromRules> & { target: string };

/**
 * What a team sees of an export: the policies selecting its services (by key: namespace and
 * name), the report of their rules and the warnings naming them; nothing namespace-wide.
 */
export function teamView(
  body: ExportBody,
  policy: Pick<PolicySet, 'rules'>,
  own: ReadonlySet<string>,
): ExportBody {
  const destinationOf = new Map(
    policy.rules().map((r) => [`${r.ref.policy}#${r.ref.index}`, r.destination]),
  );
  // Warnings name workloads `namespace/name` (the default namespace written out).
  const namespaced = [...own].map((s) => {
    const ref = splitServiceKey(s);
    return `${ref.namespace}/${ref.name}`;
  });
  return {
    target: body.target,
    manifests: body.manifests.filter((m) => {
      const s = selected(m);
      return s !== undefined && own.has(s);
    }),
    unexpressed: body.unexpressed.filter((u) => own.has(destinationOf.get(u.rule) ?? '')),
    warnings: body.warnings.filter((w) =>
      namespaced.some((n) => w.startsWith(`${n}:`) || w.startsWith(`${n} `)),
    ),
    skipped: [],
  };
}

export function exportRoutes() {
  return async (app: FastifyInstance): Promise<void> => {
    app.get<{ Querystring: { target: 'istio' | 'networkpolicy'; allowEmpty: boolean } }>(
      '/v1/graph/export',
      {
        config: { auth: ['admin', 'team'] },
        schema: {
          tags: ['graph'],
          summary:
            'The stored policy as Istio AuthorizationPolicies or NetworkPolicies, with what could not be expressed',
          security: bearer,
          querystring: {
            type: 'object',
            additionalProperties: false,
            required: ['target'],
            properties: {
              target: { type: 'string', enum: ['istio', 'networkpolicy'] },
              allowEmpty: { type: 'boolean', default: false },
            },
          },
          response: { 200: response, ...problemResponses },
        },
      },
      async (request, reply) => {
        const principal = principalOf(request);
        const stored = (await app.ward.store.listDocuments()).filter(
          (d) => d.kind === 'Service' || d.kind === 'Intention',
        );
        const trustDomain = app.ward.trustDomain;
        const policy = compileStored(stored, trustDomain);
        const builder = new GraphBuilder();
        const services = stored.filter((d) => d.kind === 'Service');
        if (services.length > 0)
          readWardServices(
            services.map((d) => JSON.stringify(d.document)).join('\n---\n'),
            'control-plane:services',
            builder,
            { trustDomain },
          );
        const graph = builder.build();
        const options = { trustDomain, allowEmpty: request.query.allowEmpty };
        let result: ReturnType<typeof toIstioPoliciesFromRules>;
        try {
          result =
            request.query.target === 'istio'
              ? toIstioPoliciesFromRules(graph, policy, options)
              : toNetworkPoliciesFromRules(graph, policy, options);
        } catch (error) {
          if (error instanceof GraphError && error.code === 'GRAPH_EXPORT_UNEXPLAINED')
            throw new ServerError('API_CONFLICT', error.message, {
              errors: [{ field: 'allowEmpty', message: 'pass allowEmpty=true to export anyway' }],
            });
          throw error;
        }
        reply.header('cache-control', 'no-store');
        const body = { target: request.query.target, ...result };
        if (principal.scope !== 'team') return body;
        // A team: only what selects its services, and the report of their rules.
        const own = new Set(ownedAmong(principal, policy.services.keys()));
        return teamView(body, policy, own);
      },
    );
  };
}
