import { Environment, ParseError } from '@marcbachmann/cel-js';
import type { DecisionInput, PassportClaims } from './types.ts';

/**
 * The CEL environment of `when` conditions. Variables are declared as message types so the type
 * checker rejects unknown fields (`source.nmae`) at load time; maps hold the open-ended parts.
 *
 * | variable   | type                                                                     |
 * |------------|--------------------------------------------------------------------------|
 * | `source`   | `ward.Source` {service, spiffeId, namespace: string; labels: map<string,string>} |
 * | `request`  | `ward.Request` {method, path: string; headers: map<string,string>; grpc: ward.Grpc} |
 * | `passport` | `ward.Passport` {sub, iss, kid: string; iat, exp: int; attrs: map<string,dyn>; present: bool} |
 * | `time`     | `google.protobuf.Timestamp`                                              |
 * | `env`      | `map<string,string>`, fixed at compile time                              |
 */

// Message classes: cel-js identifies a message type by its constructor. Instances are reused per
// policy set (see `Activation`), never shared across policy sets.
class CelSource {
  service = '';
  spiffeId = '';
  namespace = '';
  labels: Record<string, string> = EMPTY;
}
class CelGrpc {
  service = '';
  method = '';
}
class CelRequest {
  method = '';
  path = '';
  headers: Record<string, string> = EMPTY;
  grpc = new CelGrpc();
}
class CelPassport {
  present = false;
  sub = '';
  iss = '';
  kid = '';
  iat = 0n;
  exp = 0n;
  attrs: Record<string, unknown> = EMPTY;
}

const EMPTY: Record<string, never> = Object.freeze({}) as Record<string, never>;

/** Structural limits: a condition is a short predicate; anything bigger is a mistake or abuse. */
const LIMITS = { maxAstNodes: 2000, maxDepth: 64, maxListElements: 256, maxMapEntries: 256 };

let baseEnv: Environment | undefined;

/** The shared, frozen environment (instantiating one is costly; it holds no per-call state). */
export function celEnvironment(): Environment {
  if (baseEnv) return baseEnv;
  baseEnv = new Environment({ enableOptionalTypes: true, limits: LIMITS })
    .registerType('ward.Source', {
      ctor: CelSource,
      fields: {
        service: 'string',
        spiffeId: 'string',
        namespace: 'string',
        labels: 'map<string, string>',
      },
    })
    .registerType('ward.Grpc', { ctor: CelGrpc, fields: { service: 'string', method: 'string' } })
    .registerType('ward.Request', {
      ctor: CelRequest,
      fields: {
        method: 'string',
        path: 'string',
        headers: 'map<string, string>',
        grpc: 'ward.Grpc',
      },
    })
    .registerType('ward.Passport', {
      ctor: CelPassport,
      fields: {
        present: 'bool',
        sub: 'string',
        iss: 'string',
        kid: 'string',
        iat: 'int',
        exp: 'int',
        attrs: 'map<string, dyn>',
      },
    })
    .registerVariable('source', 'ward.Source')
    .registerVariable('request', 'ward.Request')
    .registerVariable('passport', 'ward.Passport')
    .registerVariable('time', 'google.protobuf.Timestamp')
    .registerVariable('env', 'map<string, string>');
  return baseEnv;
}

/** A compiled, type-checked condition. Throws (any error) on evaluation failure. */
export type CelProgram = (activation: Activation) => unknown;

export type CelCompileResult =
  | { ok: true; program: CelProgram }
  | { ok: false; code: 'POLICY_CEL_SYNTAX' | 'POLICY_CEL_TYPE'; message: string; offset: number };

/** Parses and type-checks `expression`; the result must be `bool` (or `dyn`, checked at runtime). */
export function compileCel(expression: string): CelCompileResult {
  const env = celEnvironment();
  let parsed: ReturnType<Environment['parse']>;
  try {
    parsed = env.parse(expression);
  } catch (error) {
    return failure('POLICY_CEL_SYNTAX', error);
  }
  const checked = parsed.check();
  if (!checked.valid) return failure('POLICY_CEL_TYPE', checked.error);
  if (checked.type !== 'bool' && checked.type !== 'dyn') {
    return {
      ok: false,
      code: 'POLICY_CEL_TYPE',
      message: `condition must be a bool, but has type ${checked.type}`,
      offset: 0,
    };
  }
  return { ok: true, program: parsed as unknown as CelProgram };
}

function failure(
  code: 'POLICY_CEL_SYNTAX' | 'POLICY_CEL_TYPE',
  error: unknown,
): CelCompileResult & { ok: false } {
  const e = error as { message?: string; summary?: string; range?: { start: number } };
  const text = e.summary ?? (e.message ?? String(error)).split('\n')[0]!;
  const parse = error instanceof ParseError;
  return {
    ok: false,
    code: parse ? 'POLICY_CEL_SYNTAX' : code,
    message: text,
    offset: e.range?.start ?? 0,
  };
}

/**
 * The variables of one decision, reused across decisions of the same policy set so that a decision
 * allocates only what CEL itself needs. Safe because `decide` is synchronous and CEL keeps no
 * reference to the activation after a call returns; `fill` overwrites every field each time.
 */
export class Activation {
  readonly source = new CelSource();
  readonly request = new CelRequest();
  readonly passport = new CelPassport();
  readonly time = new Date(0);
  readonly env: Readonly<Record<string, string>>;

  constructor(env: Readonly<Record<string, string>>) {
    this.env = env;
  }

  /** Loads a decision input; `service`, `spiffeId` etc. are the resolved values. */
  fill(
    input: DecisionInput,
    service: string | undefined,
    spiffeId: string | undefined,
    namespace: string | undefined,
    labels: Record<string, string> | undefined,
  ): void {
    const s = this.source;
    s.service = service ?? '';
    s.spiffeId = spiffeId ?? '';
    s.namespace = namespace ?? '';
    s.labels = labels ?? EMPTY;
    const r = this.request;
    const req = input.request;
    r.method = req?.method ?? '';
    r.path = req?.path ?? '';
    r.headers = req?.headers ?? EMPTY;
    r.grpc.service = req?.grpc?.service ?? '';
    r.grpc.method = req?.grpc?.method ?? '';
    fillPassport(this.passport, input.passport);
    this.time.setTime(input.time ?? Date.now());
  }
}

function fillPassport(p: CelPassport, claims: PassportClaims | undefined): void {
  if (claims === undefined) {
    p.present = false;
    p.sub = p.iss = p.kid = '';
    p.iat = p.exp = 0n;
    p.attrs = EMPTY;
    return;
  }
  p.present = true;
  p.sub = claims.sub;
  p.iss = claims.iss;
  p.kid = claims.kid;
  // CEL ints are BigInts; claims are integer seconds (the passport package guarantees it).
  p.iat = Number.isSafeInteger(claims.iat) ? BigInt(claims.iat) : 0n;
  p.exp = Number.isSafeInteger(claims.exp) ? BigInt(claims.exp) : 0n;
  p.attrs = (claims.attrs ?? EMPTY) as Record<string, unknown>;
}
