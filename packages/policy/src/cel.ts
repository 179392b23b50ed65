import { Environment, ParseError } from '@marcbachmann/cel-js';
import { boundCel, CEL_BOUNDS } from './cel-bounds.ts';
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
  grpc = new CelGrpc();
  #path = '';
  #headers: Record<string, string> = EMPTY;
  /** Whether `#headers` was checked against the input bounds in this decision. */
  #checked = false;

  fill(path: string, headers: Record<string, string>): void {
    this.#path = path;
    this.#headers = headers;
    this.#checked = headers === EMPTY;
  }

  // Getters, so that a condition reading only `request.method` never pays for the checks.
  get path(): string {
    if (this.#path.length > INPUT_BOUNDS.maxPath) {
      throw new RangeError(`request path is over ${INPUT_BOUNDS.maxPath} characters`);
    }
    return this.#path;
  }

  get headers(): Record<string, string> {
    if (!this.#checked) {
      const problem = headersProblem(this.#headers);
      if (problem !== undefined) throw new RangeError(problem);
      this.#checked = true;
    }
    return this.#headers;
  }
}

/**
 * Bounds on the caller-controlled inputs a condition can read. A condition that reads an input
 * over a bound fails to evaluate, and fails closed (an allow does not match, a deny does): never
 * truncated, since a truncated value could satisfy a condition the real one does not.
 */
export const INPUT_BOUNDS = {
  maxPath: 8192,
  maxHeaders: CEL_BOUNDS.maxCollection,
  maxHeaderValue: 4096,
  /** Keys of `passport.attrs` and of any map in it; elements of any list in it. */
  maxAttrEntries: CEL_BOUNDS.maxCollection,
  maxAttrString: 1024,
  maxAttrDepth: 4,
} as const;

function headersProblem(headers: Record<string, string>): string | undefined {
  let n = 0;
  for (const k in headers) {
    if (++n > INPUT_BOUNDS.maxHeaders)
      return `more than ${INPUT_BOUNDS.maxHeaders} request headers`;
    const v = headers[k];
    if (typeof v === 'string' && v.length > INPUT_BOUNDS.maxHeaderValue) {
      return `request header ${k} is over ${INPUT_BOUNDS.maxHeaderValue} characters`;
    }
  }
  return undefined;
}

/** Why a passport attribute value is over the bounds, or undefined. */
function attrsProblem(value: unknown, depth: number): string | undefined {
  if (typeof value === 'string') {
    return value.length > INPUT_BOUNDS.maxAttrString
      ? `a string over ${INPUT_BOUNDS.maxAttrString} characters`
      : undefined;
  }
  if (value === null || typeof value !== 'object') return undefined;
  if (depth >= INPUT_BOUNDS.maxAttrDepth) return `nesting deeper than ${INPUT_BOUNDS.maxAttrDepth}`;
  const list = Array.isArray(value) ? value : Object.values(value);
  if (list.length > INPUT_BOUNDS.maxAttrEntries) {
    return `a list or map of more than ${INPUT_BOUNDS.maxAttrEntries} entries`;
  }
  for (const v of list) {
    const p = attrsProblem(v, depth + 1);
    if (p !== undefined) return p;
  }
  return undefined;
}

/** Attribute objects already checked (passports are cached and reused by the verifier). */
const checkedAttrs = new WeakSet<object>();
class CelPassport {
  present = false;
  sub = '';
  iss = '';
  kid = '';
  iat = 0n;
  exp = 0n;
  #attrs: Record<string, unknown> = EMPTY;

  set attrs(value: Record<string, unknown>) {
    this.#attrs = value;
  }

  get attrs(): Record<string, unknown> {
    const a = this.#attrs;
    if (a !== EMPTY && !checkedAttrs.has(a)) {
      const problem = attrsProblem(a, 0);
      if (problem !== undefined) throw new RangeError(`passport attrs hold ${problem}`);
      checkedAttrs.add(a);
    }
    return a;
  }
}

const EMPTY: Record<string, never> = Object.freeze({}) as Record<string, never>;

/** Structural limits: a condition is a short predicate; anything bigger is a mistake or abuse. */
const LIMITS = { maxAstNodes: 2000, maxDepth: 64, maxListElements: 256, maxMapEntries: 256 };

let baseEnv: Environment | undefined;

/** The shared, frozen environment (instantiating one is costly; it holds no per-call state). */
export function celEnvironment(): Environment {
  baseEnv ??= buildEnvironment(undefined);
  return baseEnv;
}

/**
 * The environment of conditions, with `passport.attrs` either an open `map<string, dyn>` (the
 * run-time environment) or, for checking against an AttributeSchema, a message type whose fields
 * are the declared attributes with their CEL types: then `passport.attrs.tierr` is "No such key"
 * and `passport.attrs.level == "3"` "no such overload". A checking environment only checks; its
 * programs are never evaluated (`Activation` fills the run-time one).
 */
export function buildEnvironment(attrs: Readonly<Record<string, string>> | undefined): Environment {
  const env = new Environment({ enableOptionalTypes: true, limits: LIMITS });
  if (attrs !== undefined) {
    env.registerType('ward.Attrs', { ctor: class CelAttrs {}, fields: { ...attrs } });
    // `"key" in passport.attrs` stays valid (its key is checked on the AST: attribute-schema.ts).
    env.registerOperator('string in ward.Attrs', () => false);
  }
  return env
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
      // A checking environment gets its own class: cel-js maps a constructor to one type.
      ctor: attrs === undefined ? CelPassport : class CelCheckedPassport {},
      fields: {
        present: 'bool',
        sub: 'string',
        iss: 'string',
        kid: 'string',
        iat: 'int',
        exp: 'int',
        attrs: attrs === undefined ? 'map<string, dyn>' : 'ward.Attrs',
      },
    })
    .registerVariable('source', 'ward.Source')
    .registerVariable('request', 'ward.Request')
    .registerVariable('passport', 'ward.Passport')
    .registerVariable('time', 'google.protobuf.Timestamp')
    .registerVariable('env', 'map<string, string>');
}

/** A compiled, type-checked condition. Throws (any error) on evaluation failure. */
export type CelProgram = (activation: Activation) => unknown;

export type CelCompileResult =
  | { ok: true; program: CelProgram }
  | {
      ok: false;
      code: 'POLICY_CEL_SYNTAX' | 'POLICY_CEL_TYPE' | 'POLICY_CEL_REGEX' | 'POLICY_CEL_COST';
      message: string;
      offset: number;
    };

/**
 * Parses and type-checks `expression`; the result must be `bool` (or `dyn`, checked at runtime).
 * Then bounds its cost (see cel-bounds.ts): the first problem found is the result.
 */
export function compileCel(expression: string): CelCompileResult {
  if (expression.length > CEL_BOUNDS.maxExpressionLength) {
    const [p] = boundCel(undefined, expression);
    return { ok: false, ...p! };
  }
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
  const [problem] = boundCel(parsed.ast, expression);
  if (problem !== undefined) return { ok: false, ...problem };
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
 * reference to the activation after a call returns. Each variable is filled lazily, on first read
 * in a decision (cel-js reads variables as plain properties, so getters work): a condition on
 * `request.method` never pays for converting passport times to CEL ints.
 */
export class Activation {
  readonly #source = new CelSource();
  readonly #request = new CelRequest();
  readonly #passport = new CelPassport();
  readonly #time = new Date(0);
  readonly env: Readonly<Record<string, string>>;
  #input: DecisionInput | undefined;
  #service: string | undefined;
  #spiffeId: string | undefined;
  #namespace: string | undefined;
  #labels: Record<string, string> | undefined;
  /** Bit set of variables already filled for the current decision. */
  #filled = 0;

  constructor(env: Readonly<Record<string, string>>) {
    this.env = env;
  }

  /** Starts a decision: `service`, `spiffeId` etc. are the resolved caller identity. */
  begin(
    input: DecisionInput,
    service: string | undefined,
    spiffeId: string | undefined,
    namespace: string | undefined,
    labels: Record<string, string> | undefined,
  ): void {
    this.#input = input;
    this.#service = service;
    this.#spiffeId = spiffeId;
    this.#namespace = namespace;
    this.#labels = labels;
    this.#filled = 0;
  }

  /** Drops the references to the decision's input, so it can be collected. */
  end(): void {
    this.#input = undefined;
    this.#labels = undefined;
  }

  get source(): CelSource {
    const s = this.#source;
    if ((this.#filled & 1) === 0) {
      this.#filled |= 1;
      s.service = this.#service ?? '';
      s.spiffeId = this.#spiffeId ?? '';
      s.namespace = this.#namespace ?? '';
      s.labels = this.#labels ?? EMPTY;
    }
    return s;
  }

  get request(): CelRequest {
    const r = this.#request;
    if ((this.#filled & 2) === 0) {
      this.#filled |= 2;
      const req = this.#input?.request;
      r.method = req?.method ?? '';
      r.fill(req?.path ?? '', req?.headers ?? EMPTY);
      r.grpc.service = req?.grpc?.service ?? '';
      r.grpc.method = req?.grpc?.method ?? '';
    }
    return r;
  }

  get passport(): CelPassport {
    if ((this.#filled & 4) === 0) {
      this.#filled |= 4;
      fillPassport(this.#passport, this.#input?.passport);
    }
    return this.#passport;
  }

  get time(): Date {
    if ((this.#filled & 8) === 0) {
      this.#filled |= 8;
      this.#time.setTime(this.#input?.time ?? Date.now());
    }
    return this.#time;
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

// Identity fields whose values a memoized condition may read (all strings filled per decision).
const MEMO_FIELDS: Readonly<Record<string, readonly string[]>> = {
  request: ['method'],
  source: ['service', 'spiffeId', 'namespace'],
};
/** Distinct keys remembered per condition; past this the memory is cleared (a bound, not an LRU). */
const MEMO_MAX = 256;

interface CelNode {
  op: string;
  args: unknown;
}

/**
 * The fields a condition reads, when it reads nothing but `request.method` and the caller's
 * `source.service|spiffeId|namespace` (e.g. `request.method != "DELETE"`); else undefined. Any
 * other identifier (headers, path, passport, time, env, a macro's bound variable) disqualifies.
 */
function memoFields(ast: unknown): string[] | undefined {
  const fields = new Set<string>();
  let ok = true;
  const walk = (node: unknown): void => {
    if (!ok || node === null || typeof node !== 'object') return;
    if (Array.isArray(node)) {
      for (const n of node) walk(n);
      return;
    }
    const n = node as CelNode;
    if (n.op === 'id') {
      ok = false; // a bare identifier outside an allowed `var.field` selection
      return;
    }
    if (n.op === '.' && Array.isArray(n.args)) {
      const [target, field] = n.args as [CelNode, unknown];
      if (target?.op === 'id' && typeof target.args === 'string' && typeof field === 'string') {
        if (MEMO_FIELDS[target.args]?.includes(field)) {
          fields.add(`${target.args}.${field}`);
          return;
        }
        ok = false;
        return;
      }
    }
    if (n.op === 'value') return;
    walk(n.args);
  };
  walk(ast);
  return ok && fields.size > 0 ? [...fields].sort() : undefined;
}

/**
 * The program itself, or (for a condition that reads only the method and the caller's identity,
 * the common case) a wrapper that remembers its boolean result per distinct input. CEL is pure,
 * so the result is a function of those strings; evaluating cel-js costs about as much as the rest
 * of a decision, while a remembered result costs one Map lookup. Errors and non-bool results are
 * never remembered: they are recomputed (and reported) on every call.
 */
export function memoizeCel(program: CelProgram): CelProgram {
  const fields = memoFields((program as unknown as { ast?: unknown }).ast);
  if (fields === undefined) return program;
  const cache = new Map<string, boolean>();
  const method = fields.includes('request.method');
  const who = fields.some((f) => f.startsWith('source.'));
  return (activation) => {
    let key = method ? activation.request.method : '';
    if (who) {
      const s = activation.source;
      // Length-prefixed, so two different inputs never share a key.
      key = `${key.length}:${key}${s.service.length}:${s.service}${s.spiffeId.length}:${s.spiffeId}${s.namespace}`;
    }
    const hit = cache.get(key);
    if (hit !== undefined) return hit;
    const v = program(activation);
    if (typeof v === 'boolean') {
      if (cache.size >= MEMO_MAX) cache.clear();
      cache.set(key, v);
    }
    return v;
  };
}
