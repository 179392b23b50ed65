/**
 * What the ext_authz tests share: real SDK Enforcers over the SDK's policy fixture (compiled by
 * `@ward/policy`), a decision recorder, a stock gRPC client built from the same vendored Envoy
 * protos, and the request shapes Envoy sends.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { DecisionLogEntry, DecisionRecorder } from '@ward/sdk';
import { Enforcer } from '@ward/sdk';
import { fixtureDecider, fixturePolicySet } from '../../sdk/test/_policy-fixture.ts';
import {
  type CheckResponse,
  createExtAuthz,
  EXT_AUTHZ_PROTO,
  EXT_AUTHZ_PROTO_ROOT,
  type ExtAuthz,
} from '../src/index.ts';

export const TD = 'spiffe://ward.test/ns/shop/sa';
export const id = (name: string): string => `${TD}/${name}`;

/** Decisions as the decision-log shipper would receive them. */
export class Recorder implements DecisionRecorder {
  readonly entries: DecisionLogEntry[] = [];
  record(entry: DecisionLogEntry): void {
    this.entries.push(entry);
  }
}

/**
 * The agent's ext_authz over local PDPs for `orders` and `payments` (the fixture's policy: orders
 * admits frontend on /orders, payments on anything, denies monitoring; a dry-run rule would deny
 * frontend /orders/export). Other services have no PDP on this node.
 */
export function fixtureAuthz(log: DecisionRecorder): ExtAuthz {
  const policy = fixturePolicySet();
  const enforcers = new Map(
    ['orders', 'payments'].map((service) => [
      service,
      new Enforcer({ decider: fixtureDecider(), service, log }),
    ]),
  );
  return createExtAuthz({
    enforcerFor: (service) => enforcers.get(service),
    serviceForSpiffeId: (spiffeId) => policy.serviceBySpiffeId(spiffeId)?.name,
  });
}

/** A decoded CheckResponse: with `oneofs`, proto-loader names the oneof's field set. */
export type Answer = CheckResponse & { http_response?: 'ok_response' | 'denied_response' };

type Unary = (
  request: unknown,
  metadata: grpc.Metadata,
  callback: (error: grpc.ServiceError | null, response: Answer) => void,
) => void;

/** A stock gRPC client of `envoy.service.auth.v3.Authorization`, from the vendored protos. */
export function authorizationClient(
  target: string,
  credentials = grpc.credentials.createInsecure(),
  options: grpc.ClientOptions = {},
): { check(request: unknown): Promise<Answer>; close(): void } {
  const definition = protoLoader.loadSync(EXT_AUTHZ_PROTO, {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: false,
    oneofs: true,
    includeDirs: [EXT_AUTHZ_PROTO_ROOT],
  });
  const Ctor = grpc.loadPackageDefinition(definition).envoy as unknown as {
    service: { auth: { v3: { Authorization: grpc.ServiceClientConstructor } } };
  };
  const client = new Ctor.service.auth.v3.Authorization(
    target,
    credentials,
    options,
  ) as unknown as grpc.Client & {
    Check: Unary;
  };
  return {
    check: (request) =>
      new Promise((resolve, reject) =>
        client.Check(request, new grpc.Metadata(), (error, response) =>
          error ? reject(error) : resolve(response),
        ),
      ),
    close: () => client.close(),
  };
}

/**
 * A CheckRequest as Envoy's HTTP ext_authz filter sends it for a request that arrived on an mTLS
 * connection (the shape of Envoy's own `CheckRequestUtils::createHttpCheck`): peers with
 * addresses and principals, `request.http` with id, method, lower-case headers including the
 * HTTP/2 pseudo-headers, path with query, host, scheme, protocol; context extensions and
 * metadata context.
 */
export function envoyCheck(options: {
  source?: string;
  destination?: string;
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  extensions?: Record<string, string>;
}): unknown {
  const method = options.method ?? 'GET';
  const path = options.path ?? '/';
  return {
    attributes: {
      source: {
        address: { socket_address: { address: '10.1.0.7', port_value: 43512 } },
        ...(options.source === undefined ? {} : { principal: options.source }),
      },
      destination: {
        address: { socket_address: { address: '10.1.0.9', port_value: 8080 } },
        ...(options.destination === undefined ? {} : { principal: options.destination }),
      },
      request: {
        time: { seconds: '1767225600', nanos: 123000000 },
        http: {
          id: '14890583924102830283',
          method,
          headers: {
            ':authority': 'orders.shop.svc.cluster.local:8080',
            ':method': method,
            ':path': path,
            ':scheme': 'https',
            'user-agent': 'curl/8.5.0',
            accept: '*/*',
            'x-forwarded-proto': 'https',
            'x-request-id': 'b8f4c0a2-6c55-4ab4-9a64-2f5e8f0a7a51',
            ...options.headers,
          },
          path,
          host: 'orders.shop.svc.cluster.local:8080',
          scheme: 'https',
          protocol: 'HTTP/2',
          size: '-1',
        },
      },
      context_extensions: { virtual_host: 'inbound|http|8080', ...options.extensions },
      metadata_context: {
        filter_metadata: {
          'envoy.filters.http.jwt_authn': { fields: { sub: { string_value: 'alice' } } },
        },
      },
    },
  };
}

/** The problem body of a denial. */
export function problemOf(response: CheckResponse): Record<string, unknown> {
  return JSON.parse(response.denied_response!.body) as Record<string, unknown>;
}
