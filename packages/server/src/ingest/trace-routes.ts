/**
 * `POST /v1/traces`: OTLP/HTTP trace export (`application/x-protobuf` or `application/json`,
 * optionally `Content-Encoding: gzip`), so a stock OpenTelemetry exporter can point at the
 * control plane. Success is 200 with an `ExportTraceServiceResponse` in the request's encoding
 * (with `partialSuccess` when spans were rejected); errors are a `google.rpc.Status` for
 * protobuf requests and the usual problem body for JSON ones.
 */
import type { FastifyInstance } from 'fastify';
import { principalOf } from '../http/auth-hook.ts';
import { errorHandler, toServerError } from '../http/problem.ts';
import { bearer, problemResponses } from '../http/schemas.ts';
import { registerIngestParsers } from './body.ts';
import {
  exportResponseJson,
  exportResponseProto,
  grpcCodeOf,
  statusProto,
} from './otlp-response.ts';
import { identityOf, type Quota } from './quota.ts';
import type { TraceIngestor } from './trace-ingestor.ts';

const PROTO_TYPES = ['application/x-protobuf', 'application/protobuf'];

export function traceRoutes(options: {
  ingestor: TraceIngestor;
  /** Spans per second per identity. */
  quota: Quota;
  maxBodyBytes: number;
}) {
  return async (app: FastifyInstance): Promise<void> => {
    registerIngestParsers(app, {
      maxDecodedBytes: options.maxBodyBytes,
      wireLimit: options.maxBodyBytes,
      bufferTypes: PROTO_TYPES,
    });
    app.setErrorHandler((error, request, reply) => {
      const type = String(request.headers['content-type'] ?? '')
        .split(';')[0]!
        .trim()
        .toLowerCase();
      if (!PROTO_TYPES.includes(type)) return errorHandler(error, request, reply);
      const problem = toServerError(error);
      if (problem.status >= 500) request.log.error({ err: error }, 'trace export failed');
      if (problem.retryAfterSeconds !== undefined)
        reply.header('retry-after', problem.retryAfterSeconds);
      return reply
        .code(problem.status)
        .type('application/x-protobuf')
        .send(statusProto(grpcCodeOf(problem.status), `${problem.code}: ${problem.message}`));
    });

    app.post(
      '/v1/traces',
      {
        config: { auth: ['pdp', 'collector', 'admin'] },
        bodyLimit: options.maxBodyBytes,
        schema: {
          tags: ['ingest'],
          summary:
            'OTLP/HTTP trace export (protobuf or JSON, gzip allowed); observed edges feed GET /v1/graph',
          security: bearer,
          response: { ...problemResponses },
        },
      },
      async (request, reply) => {
        const p = principalOf(request);
        const identity = identityOf(p);
        // Spans are counted as they are read: an identity with no quota left is refused up
        // front, and what an export brings is charged after (the bucket may go into debt).
        options.quota.take(identity, 1, 'spans');
        const proto = Buffer.isBuffer(request.body);
        // A PDP reports its own service's spans; unbound, none. Collectors and admins: any.
        const service =
          p.scope === 'pdp' ? (p.services.size === 1 ? [...p.services][0]! : '') : undefined;
        const outcome = await options.ingestor.accept(request.body, proto, service);
        options.quota.charge(identity, outcome.spans + outcome.rejected - 1);
        app.ward.metrics.ingest('traces', outcome.spans, outcome.rejected);
        const message =
          outcome.rejected > 0
            ? `${outcome.rejected} span(s) rejected; first: ${outcome.firstRejection ?? 'malformed span'}`
            : undefined;
        if (proto)
          return reply
            .type('application/x-protobuf')
            .send(exportResponseProto(outcome.rejected, message));
        return reply
          .type('application/json')
          .send(JSON.stringify(exportResponseJson(outcome.rejected, message)));
      },
    );
  };
}
