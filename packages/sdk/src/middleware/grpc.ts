import type { IncomingHttpHeaders } from 'node:http';
import {
  Metadata,
  ServerInterceptingCall,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
  status,
} from '@grpc/grpc-js';
import type { WardContext } from './context.ts';
import { Rejection } from './context.ts';
import { type EnforcementOptions, Enforcer, problem } from './enforcer.ts';
import { spiffeIdOfCertificate } from './peer.ts';

// The handler's call object carries the same Metadata instance the interceptor saw, so a weak
// map from it finds the context without touching gRPC's objects or leaking after the call.
const contexts = new WeakMap<Metadata, WardContext>();

/**
 * The Ward context of an admitted gRPC call (verified caller, passport claims, decision).
 *
 * @example
 * ```ts
 * server.addService(Orders.service, {
 *   get(call, callback) { callback(null, { caller: wardOf(call)?.source.service }); },
 * });
 * ```
 */
export function wardOf(call: { metadata: Metadata }): WardContext | undefined {
  return contexts.get(call.metadata);
}

const GRPC_STATUS = {
  400: status.INVALID_ARGUMENT,
  401: status.UNAUTHENTICATED,
  403: status.PERMISSION_DENIED,
  500: status.INTERNAL,
} as const;

/**
 * A `@grpc/grpc-js` server interceptor (grpc-js >= 1.10): every call is decided when its
 * metadata arrives, before the handler runs. A refused call ends with `PERMISSION_DENIED`
 * (`UNAUTHENTICATED` for a bad passport); the details name the rule and reason, and the trailer
 * `ward-problem-bin` carries the same problem body as the HTTP middleware. The caller's identity
 * comes from the verified client certificate (`getAuthContext()`); the passport from the
 * `x-ward-passport` metadata.
 *
 * @example
 * ```ts
 * const server = new grpc.Server({ interceptors: [wardGrpc({ decider: pdp, service: 'orders' })] });
 * ```
 */
export function wardGrpc(options: EnforcementOptions): ServerInterceptor {
  const enforcer = new Enforcer(options);
  return (descriptor, call: ServerInterceptingCallInterface) =>
    new ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, nextMetadata) {
            const path = descriptor.path;
            const grpc = grpcMethodOf(path);
            const outcome =
              grpc === undefined
                ? problem(
                    400,
                    'MIDDLEWARE_NOT_CANONICAL',
                    `${JSON.stringify(path)} is not a canonical gRPC method path ("/package.Service/Method")`,
                  )
                : enforcer.check(
                    null,
                    'POST',
                    path,
                    headersOf(metadata),
                    path,
                    grpc,
                    spiffeIdOfCertificate(call.getAuthContext().sslPeerCertificate),
                  );
            if (outcome instanceof Rejection) {
              const trailers = new Metadata();
              trailers.set('ward-problem-bin', Buffer.from(JSON.stringify(outcome.problem)));
              call.sendStatus({
                code: GRPC_STATUS[outcome.status],
                details: `${outcome.problem.code}: ${outcome.problem.detail ?? outcome.problem.reason}`,
                metadata: trailers,
              });
              return;
            }
            contexts.set(metadata, outcome);
            nextMetadata(metadata);
          },
        });
      },
    });
}

/** `/package.Service/Method`: protobuf identifiers only, so there is nothing to normalise. */
const GRPC_PATH =
  /^\/((?:[A-Za-z_][A-Za-z0-9_]*\.)*[A-Za-z_][A-Za-z0-9_]*)\/([A-Za-z_][A-Za-z0-9_]*)$/;

/**
 * The service and method of a canonical gRPC method path, or undefined for any other path.
 * grpc-js looks handlers up by the exact path string and runs interceptors only for a registered
 * one, so this is defence in depth: a path that is not in this form never names a method.
 */
export function grpcMethodOf(path: string): { service: string; method: string } | undefined {
  const m = GRPC_PATH.exec(path);
  return m === null ? undefined : { service: m[1]!, method: m[2]! };
}

/**
 * Text metadata as lower-case headers (gRPC keys are lower-case; binary `-bin` entries are left
 * out). The passport stays in, for the enforcer to verify and then remove.
 */
function headersOf(metadata: Metadata): IncomingHttpHeaders {
  const headers: IncomingHttpHeaders = {};
  const map = metadata.getMap();
  for (const key in map) {
    const value = map[key];
    if (typeof value === 'string') headers[key] = value;
  }
  return headers;
}
