/**
 * OTLP/HTTP responses (opentelemetry-proto `ExportTraceServiceResponse`, `google.rpc.Status`) in
 * the request's encoding. Hand-encoded: two messages of two fields each do not justify loading a
 * protobuf runtime and the .proto files into the control plane.
 */

function varint(n: number): number[] {
  const out: number[] = [];
  let v = BigInt.asUintN(64, BigInt(Math.trunc(n)));
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) byte |= 0x80;
    out.push(byte);
  } while (v !== 0n);
  return out;
}

function field(no: number, bytes: Uint8Array): number[] {
  return [...varint((no << 3) | 2), ...varint(bytes.length), ...bytes];
}

/**
 * `ExportTraceServiceResponse { ExportTracePartialSuccess partial_success = 1; }` with
 * `{ int64 rejected_spans = 1; string error_message = 2; }`; empty when nothing was rejected.
 */
export function exportResponseProto(rejected: number, message: string | undefined): Buffer {
  if (rejected === 0) return Buffer.alloc(0);
  const inner = [
    ...varint(1 << 3),
    ...varint(rejected),
    ...(message ? field(2, Buffer.from(message, 'utf8')) : []),
  ];
  return Buffer.from(field(1, Uint8Array.from(inner)));
}

/** The same in the OTLP/JSON mapping (int64 as a decimal string, lowerCamelCase names). */
export function exportResponseJson(
  rejected: number,
  message: string | undefined,
): Record<string, unknown> {
  if (rejected === 0) return {};
  return {
    partialSuccess: {
      rejectedSpans: String(rejected),
      ...(message ? { errorMessage: message } : {}),
    },
  };
}

/** `google.rpc.Status { int32 code = 1; string message = 2; }`, the OTLP/HTTP error body. */
export function statusProto(grpcCode: number, message: string): Buffer {
  return Buffer.from([
    ...varint(1 << 3),
    ...varint(grpcCode),
    ...field(2, Buffer.from(message, 'utf8')),
  ]);
}

/** The gRPC status code OTLP/HTTP pairs with an HTTP status. */
export function grpcCodeOf(httpStatus: number): number {
  if (httpStatus === 400 || httpStatus === 413 || httpStatus === 415) return 3; // INVALID_ARGUMENT
  if (httpStatus === 401) return 16; // UNAUTHENTICATED
  if (httpStatus === 403) return 7; // PERMISSION_DENIED
  if (httpStatus === 429) return 8; // RESOURCE_EXHAUSTED
  if (httpStatus === 503) return 14; // UNAVAILABLE
  return 13; // INTERNAL
}
