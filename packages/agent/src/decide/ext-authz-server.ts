/**
 * The gRPC side of Envoy ext_authz: the `envoy.service.auth.v3.Authorization` service from the
 * vendored Envoy protos (`proto/envoy`), served on the agent's Workload API socket and,
 * optionally, on TCP with mTLS. Who may ask about which destination is a function of the
 * caller's identity (its SPIFFE IDs → their services): an Envoy asks only for the workload it
 * fronts, so a workload cannot learn or test another service's policy through the agent.
 */
import type { SecureContextOptions } from 'node:tls';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { spiffeIdOfCertificate } from '@ward/sdk';
import { AgentError } from '../errors.ts';
import type { CallerLookup, WorkloadCall } from '../workload-call.ts';
import type { CheckResponse, ExtAuthz } from './ext-authz.ts';

/** The include root of the vendored protos (see its README for their provenance). */
export const EXT_AUTHZ_PROTO_ROOT: string = fileURLToPath(
  new URL('../../proto/envoy', import.meta.url),
);
/** The file that defines `envoy.service.auth.v3.Authorization`, relative to the root. */
export const EXT_AUTHZ_PROTO = 'envoy/service/auth/v3/external_auth.proto';
const SERVICE_NAME = 'envoy.service.auth.v3.Authorization';

/** proto-loader options: the proto's field names, enums by name, absent fields left out. */
export const EXT_AUTHZ_LOAD_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: false,
  oneofs: true,
  includeDirs: [EXT_AUTHZ_PROTO_ROOT],
};

let definition: grpc.ServiceDefinition | undefined;

/** The `Authorization` service definition, parsed from the protos on first use (~0.3 s). */
export function authorizationService(): grpc.ServiceDefinition {
  definition ??= protoLoader.loadSync(EXT_AUTHZ_PROTO, EXT_AUTHZ_LOAD_OPTIONS)[
    SERVICE_NAME
  ] as grpc.ServiceDefinition;
  return definition;
}

/** Which destinations the caller of one call may ask about. */
export type CallerScope = (call: WorkloadCall) => (service: string) => boolean;

/** A gRPC service to add to a server: what `grpc.Server.addService` takes. */
export interface GrpcService {
  definition: grpc.ServiceDefinition;
  implementation: grpc.UntypedServiceImplementation;
}

const NOTHING = (): boolean => false;

/** The services of a caller's SPIFFE IDs: the destinations it may ask about. */
export function servicesOf(
  spiffeIds: Iterable<string>,
  serviceOf: (spiffeId: string) => string | undefined,
): ReadonlySet<string> {
  const services = new Set<string>();
  for (const id of spiffeIds) {
    const service = serviceOf(id);
    if (service !== undefined) services.add(service);
  }
  return services;
}

/**
 * On the Workload API socket: the caller's peer credentials (read by the kernel) select its
 * registration entries, whose SPIFFE IDs name the services it may ask about. A caller that
 * cannot be identified, or has no entry, may ask about none.
 */
export function unixCallerScope(
  lookup: CallerLookup,
  serviceOf: (spiffeId: string) => string | undefined,
): CallerScope {
  return (call) => {
    let entries: readonly { spiffeId: string }[];
    try {
      entries = lookup.entriesOf(lookup.peerOf(call));
    } catch {
      return NOTHING;
    }
    const allowed = servicesOf(
      entries.map((e) => e.spiffeId),
      serviceOf,
    );
    return (service) => allowed.has(service);
  };
}

/**
 * On TCP with mTLS: the client certificate's SPIFFE ID (chain verified against the trust bundle
 * by TLS, leaf rules by `spiffeIdOfCertificate`) names the one service it may ask about; an
 * Istio sidecar that takes its certificate from the agent presents its workload's SVID.
 */
export function mtlsCallerScope(serviceOf: (spiffeId: string) => string | undefined): CallerScope {
  return (call) => {
    const id = spiffeIdOfCertificate(call.getAuthContext().sslPeerCertificate);
    const service = id === undefined ? undefined : serviceOf(id);
    return service === undefined ? NOTHING : (asked) => asked === service;
  };
}

/** The `Authorization` service over `authz`, each call scoped by `scope`. */
export function extAuthzService(authz: ExtAuthz, scope: CallerScope): GrpcService {
  return {
    definition: authorizationService(),
    implementation: {
      Check(call: grpc.ServerUnaryCall<unknown, CheckResponse>, done: grpc.sendUnaryData<unknown>) {
        let mayAsk: (service: string) => boolean;
        try {
          mayAsk = scope(call);
        } catch {
          mayAsk = NOTHING;
        }
        // Always a CheckResponse, never a gRPC error: an error would leave the call to Envoy's
        // `failure_mode_allow`, a denial is a denial whatever that says.
        done(null, authz.check(call.request, mayAsk));
      },
    },
  };
}

/**
 * The registration hook for the Workload API socket (`startWorkloadApi({ services: [...] })`):
 * the service scoped by the socket's caller lookup.
 */
export function extAuthzOnSocket(authz: ExtAuthz): (lookup: CallerLookup) => GrpcService {
  return (lookup) => extAuthzService(authz, unixCallerScope(lookup, authz.serviceOf));
}

/** PEM key, certificate chain and the trust bundle for the TCP listener. */
export interface ExtAuthzTls {
  key: string | Buffer;
  cert: string | Buffer;
  /** The trust bundle client certificates are verified against. */
  ca: string | Buffer | (string | Buffer)[];
}

/**
 * Server credentials that require a client certificate and can be replaced while serving: the
 * agent's SVID rotates at half-life, `update` swaps it in for new connections.
 */
export class RotatingServerCredentials extends grpc.ServerCredentials {
  constructor(tls: ExtAuthzTls) {
    super({ requestCert: true, rejectUnauthorized: true }, contextOf(tls));
  }

  update(tls: ExtAuthzTls): void {
    this.updateSecureContextOptions(contextOf(tls));
  }

  _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }
}

function contextOf(tls: ExtAuthzTls): SecureContextOptions {
  return { key: tls.key, cert: tls.cert, ca: tls.ca, minVersion: 'TLSv1.2' };
}

/** A running TCP ext_authz listener. */
export interface ExtAuthzTcpServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Serves `Authorization/Check` on TCP with mTLS (for proxies that cannot reach the agent's Unix
 * socket, e.g. an Istio `CUSTOM` provider): each caller may ask only about the service of its
 * client certificate's SPIFFE ID.
 */
export async function startExtAuthzTcp(options: {
  authz: ExtAuthz;
  credentials: RotatingServerCredentials;
  host?: string;
  /** 0: any free port (see `port` of the result). */
  port: number;
}): Promise<ExtAuthzTcpServer> {
  const server = new grpc.Server();
  const { definition: service, implementation } = extAuthzService(
    options.authz,
    mtlsCallerScope(options.authz.serviceOf),
  );
  server.addService(service, implementation);
  const address = `${options.host ?? '127.0.0.1'}:${options.port}`;
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(address, options.credentials, (error, bound) =>
      error
        ? reject(
            new AgentError('AGENT_SOCKET', `cannot listen on ${address}: ${error.message}`, {
              cause: error,
            }),
          )
        : resolve(bound),
    ),
  );
  return {
    port,
    async close() {
      server.forceShutdown();
    },
  };
}
