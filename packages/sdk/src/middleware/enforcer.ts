import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { PROBLEM_MEDIA_TYPE, problemBody } from '@ward/api-types';
import {
  type CanonicalRequest,
  type Decision,
  type DecisionInput,
  type DecisionRequest,
  type DecisionSource,
  RequestProblem,
  type RouterRules,
  tryCanonicalRequest,
} from '@ward/policy';
import { canonicalServiceKey } from '@ward/spiffe';
import type { DecisionLogEntry, DecisionRecorder } from '../decision-log/entry.ts';
import { peerIdentity } from '../identity/peer.ts';
import type { EnforcementProblemV1, IdentitySource, WardContext } from './context.ts';
import { Rejection } from './context.ts';
import type { Decider, PassportVerifier } from './decider.ts';
import { ruleName } from './errors.ts';
import { IGNORE_PASSPORT, passportVerifierOf } from './passport.ts';
import { isSpiffeId, serviceByConvention, trustDomainOf } from './peer.ts';

/** The header that carries the end-user passport between services. */
export const PASSPORT_HEADER = 'x-ward-passport';

/** Options shared by every middleware flavour. */
export interface EnforcementOptions {
  /** The policy engine: a running PDP, or a compiled `PolicySet`. */
  decider: Decider;
  /**
   * This service's key (`orders`, or `shop/orders` outside the default namespace; `default/orders`
   * is read as `orders`): the destination of every call it receives.
   */
  service: string;
  /**
   * DEVELOPMENT ONLY: read the caller's service name (or SPIFFE ID) from this header when the
   * connection carries no verified client certificate, e.g. `'x-ward-source'`. Anyone can set a
   * header, so never enable this where callers are not trusted.
   */
  devIdentityHeader?: string;
  /**
   * Verifies passports. Default: a verifier over `decider.passportKeys()`, rebuilt when the
   * bundle's keys change. Without either, a call carrying a passport is refused.
   */
  passportVerifier?: PassportVerifier;
  /** Where decisions are recorded (a decision-log shipper). */
  log?: DecisionRecorder;
  /**
   * Accept peer certificates of this trust domain only (others count as anonymous), and map only
   * its SPIFFE IDs to service names by convention (`spiffe://<td>/ns/<ns>/sa/<name>`). Default:
   * any trust domain the server's CA vouches for.
   */
  trustDomain?: string;
  /**
   * The verified SPIFFE ID of a connection's peer. Default: `peerIdentity` of the identity module
   * (chain checked by Node, then the X509-SVID leaf rules Node does not know).
   */
  peerIdentity?: (socket: Socket) => string | undefined;
  /**
   * How your router matches paths, so each decision is made on the form the router routes
   * (`canonicalRequest` in `@ward/policy`). Each adapter knows its framework's defaults (Express:
   * case-insensitive, trailing slash ignored; Fastify: read from its options); set this only when
   * you changed them in a way the adapter cannot see, e.g. an Express app whose every router is
   * `caseSensitive` and `strict`.
   */
  routing?: RouterRules;
}

const ANONYMOUS: DecisionSource = Object.freeze({});
const kIdentity = Symbol('ward.identity');

interface SocketWithIdentity extends Socket {
  /** The verified peer SPIFFE ID, or '' when the connection has none. */
  [kIdentity]?: string;
}

/** Distinct callers remembered; past this the memory is cleared (a bound, not an LRU). */
const MAX_SOURCES = 4096;

/**
 * The framework-neutral core of every middleware flavour: identity, passport, decision, log,
 * problem. Use it to write an adapter for another framework.
 *
 * @example
 * ```ts
 * const enforcer = new Enforcer({ decider: pdp, service: 'orders', log });
 * const outcome = enforcer.check(req.socket, req.method, req.url, req.headers, routePattern);
 * if (outcome instanceof Rejection) return reply(outcome.status, outcome.problem);
 * ```
 */
export class Enforcer {
  readonly service: string;
  /** True when decisions are recorded (the route template is only needed then). */
  readonly logging: boolean;
  readonly #decider: Decider;
  /** `decideCanonical` when the decider has it (the request is canonical already), else `decide`. */
  readonly #decide: (input: DecisionInput) => Decision;
  readonly #devHeader: string | undefined;
  readonly #log: DecisionRecorder | undefined;
  readonly #trustDomain: string | undefined;
  readonly #peerIdentity: (socket: Socket) => string | undefined;
  readonly #passport: () => PassportVerifier | typeof IGNORE_PASSPORT | undefined;
  readonly #routing: RouterRules | undefined;
  // Reused for every decision: `decide` is synchronous and keeps no reference to its input, so
  // one scratch object saves two allocations per request on the hot path.
  readonly #input: DecisionInput;
  readonly #request: DecisionRequest;
  /** The request being decided (during `decide` only), whose query `#request.query` reads. */
  #canonical: CanonicalRequest | undefined;
  // Callers by SPIFFE ID or claimed name, so a known caller costs a map lookup, not an object.
  readonly #sources = new Map<string, DecisionSource>();
  #sourcesRevision = Number.NaN;
  // The last dev-header caller: a service mostly hears from the same few callers, and comparing
  // one short string beats hashing the header value (a fresh string per request) for the Map.
  #lastClaimed: string | undefined;
  #lastDevSource: DecisionSource | undefined;

  constructor(options: EnforcementOptions) {
    if (options === null || typeof options !== 'object') throw new TypeError('options required');
    const { decider } = options;
    if (decider === null || typeof decider?.decide !== 'function') {
      throw new TypeError('options.decider must have a decide(input) method');
    }
    const service =
      typeof options.service === 'string' ? canonicalServiceKey(options.service) : undefined;
    if (service === undefined) {
      throw new TypeError(
        'options.service must name this service: name or namespace/name (lower-case DNS labels)',
      );
    }
    this.service = service;
    this.#decider = decider;
    // Chosen once here, not per request.
    this.#decide =
      typeof decider.decideCanonical === 'function'
        ? decider.decideCanonical.bind(decider)
        : decider.decide.bind(decider);
    this.#log = options.log;
    this.logging = options.log !== undefined;
    this.#trustDomain = options.trustDomain;
    const trustDomain = options.trustDomain;
    // Default: the identity module's check (chain verified by Node, leaf not a CA, exactly one URI
    // SAN that is a SPIFFE ID with a path, pinned to `trustDomain` when given), cached per socket.
    this.#peerIdentity = options.peerIdentity ?? ((socket) => peerIdentity(socket, trustDomain));
    this.#passport = passportVerifierOf(decider, options.passportVerifier, service);
    this.#routing =
      options.routing === undefined ? undefined : Object.freeze({ ...options.routing });
    if (options.devIdentityHeader !== undefined) {
      if (typeof options.devIdentityHeader !== 'string' || options.devIdentityHeader === '') {
        throw new TypeError('options.devIdentityHeader must be a header name');
      }
      this.#devHeader = options.devIdentityHeader.toLowerCase();
      process.emitWarning(
        `Ward middleware for ${service} trusts the ${this.#devHeader} header for caller identity; use this only in development`,
        { code: 'WARD_DEV_IDENTITY' },
      );
    }
    const enforcer = this;
    this.#request = {
      method: undefined,
      path: undefined,
      // Read through to the request being decided: `CanonicalRequest.query` cuts the query from
      // the target only when read, and only `query` permissions read it (most requests never do).
      get query() {
        return enforcer.#canonical?.query;
      },
      headers: undefined,
      grpc: undefined,
    };
    this.#input = {
      destination: service,
      source: ANONYMOUS,
      request: this.#request,
      passport: undefined,
      time: 0,
    };
  }

  /**
   * Decides one incoming call. Returns the context to hand to the handler, or a `Rejection` to
   * answer. Never throws.
   *
   * @param url the raw request target (`req.url`): it is put in canonical form (or refused with
   *   400) before anything else, and the decision is made on that form.
   * @param route the framework's route template (`/orders/:id`), when known: used in the log.
   */
  check(
    socket: Socket | null | undefined,
    method: string,
    url: string,
    headers: IncomingHttpHeaders,
    route: string | undefined,
    grpc?: { service: string; method: string },
    spiffeId?: string,
  ): WardContext | Rejection {
    // 0. One canonical request: the form the router routes on, or a 400 when there is none.
    const canonical: CanonicalRequest | RequestProblem = tryCanonicalRequest(
      method,
      url,
      this.#routing,
    );
    if (canonical instanceof RequestProblem) {
      return problem(400, canonical.code, canonical.message);
    }
    const time = Date.now();
    const revision = this.#revision();
    // 1. Who is calling: the verified peer certificate wins; a dev header only without one.
    let id = spiffeId;
    if (id === undefined && socket) {
      const s = socket as SocketWithIdentity;
      id = s[kIdentity];
      if (id === undefined) {
        // A TLS peer cannot change within a connection (TLS 1.3 has no renegotiation; Node
        // refuses it for servers), so the certificate is read once per connection.
        id = this.#verifiedPeer(socket);
        s[kIdentity] = id;
      }
    }
    let source: DecisionSource = ANONYMOUS;
    let identity: IdentitySource = 'anonymous';
    if (id) {
      source = this.#sourceOf(id);
      identity = 'mtls';
    } else if (this.#devHeader !== undefined) {
      const claimed = headers[this.#devHeader];
      if (typeof claimed === 'string') {
        const dev = this.#devSource(claimed);
        if (dev === null) {
          return problem(
            401,
            'MIDDLEWARE_BAD_IDENTITY',
            `${this.#devHeader} is not a service name or SPIFFE ID`,
          );
        }
        source = dev;
        identity = 'dev-header';
      }
    }
    return this.#decideCall(canonical, time, revision, source, identity, headers, route, grpc);
  }

  /**
   * Decides one call whose caller the enforcing party identified itself: the node agent's local
   * decision API, asked by a workload that verified its own peer. `caller` is taken as given
   * (a SPIFFE ID is mapped to its service as for a peer certificate; otherwise `service`); the
   * rest is `check`: canonical request, passport, decision, log entry, problem. Never throws.
   */
  checkAs(
    caller: { spiffeId?: string | undefined; service?: string | undefined },
    method: string,
    url: string,
    headers: IncomingHttpHeaders,
    route: string | undefined,
  ): WardContext | Rejection {
    const canonical = tryCanonicalRequest(method, url, this.#routing);
    if (canonical instanceof RequestProblem) {
      return problem(400, canonical.code, canonical.message);
    }
    const time = Date.now();
    const revision = this.#revision();
    let source: DecisionSource | null = ANONYMOUS;
    if (caller.spiffeId !== undefined) {
      source = isSpiffeId(caller.spiffeId) ? this.#sourceOf(caller.spiffeId) : null;
    } else if (caller.service !== undefined) {
      source = caller.service.startsWith('spiffe://') ? null : this.#devSource(caller.service);
    }
    if (source === null) {
      return problem(
        400,
        'MIDDLEWARE_BAD_IDENTITY',
        'the caller is not a service name or SPIFFE ID',
      );
    }
    const identity: IdentitySource = source === ANONYMOUS ? 'anonymous' : 'asserted';
    return this.#decideCall(canonical, time, revision, source, identity, headers, route, undefined);
  }

  /** The decider's revision; a new one forgets the SPIFFE ID → service mapping. */
  #revision(): number {
    const revision = this.#decider.revision?.() ?? 0;
    if (revision !== this.#sourcesRevision) {
      // A new bundle may map SPIFFE IDs to other names: forget the old mapping.
      this.#forget();
      this.#sourcesRevision = revision;
    }
    return revision;
  }

  /** Steps 2–4 of a check, once the caller is known. */
  #decideCall(
    canonical: CanonicalRequest,
    time: number,
    revision: number,
    source: DecisionSource,
    identity: IdentitySource,
    headers: IncomingHttpHeaders,
    route: string | undefined,
    grpc: { service: string; method: string } | undefined,
  ): WardContext | Rejection {
    // 2. The passport, verified with the bundle's keys; the header itself never reaches the policy.
    let passport: DecisionInput['passport'];
    let decisionHeaders = headers;
    const token = headers[PASSPORT_HEADER];
    if (token !== undefined) {
      let verifier: PassportVerifier | typeof IGNORE_PASSPORT | undefined;
      try {
        verifier = this.#passport();
      } catch {
        verifier = undefined;
      }
      if (verifier === undefined) {
        return problem(
          401,
          'MIDDLEWARE_PASSPORT_REJECTED',
          'no passport keys are configured to verify the passport',
        );
      }
      // A service that holds no passport keys (none of its rules reads one) ignores it: the
      // passport is neither verified nor shown to the policy or the handler.
      if (verifier !== IGNORE_PASSPORT) {
        try {
          passport = verifier.verify(Array.isArray(token) ? token.join(',') : token, time);
        } catch (error) {
          const code = (error as { code?: unknown })?.code;
          return problem(
            401,
            typeof code === 'string' && code.startsWith('PASSPORT_')
              ? code
              : 'MIDDLEWARE_PASSPORT_REJECTED',
            error instanceof Error ? error.message : 'passport rejected',
          );
        }
      }
      decisionHeaders = { ...headers };
      delete decisionHeaders[PASSPORT_HEADER];
    }

    // 3. Decide, on the canonical method (HEAD as GET), the path as the router matches it and
    //    the query.
    const request = this.#request;
    request.method = canonical.method;
    request.path = canonical.match;
    this.#canonical = canonical;
    // Node lower-cases header names; only `set-cookie` can be an array, and it is a response header.
    request.headers = decisionHeaders as Record<string, string>;
    request.grpc = grpc;
    const input = this.#input;
    input.source = source;
    input.passport = passport;
    input.time = time;
    let decision: Decision;
    try {
      decision = this.#decide(input);
    } catch (error) {
      // Fail closed: a decider that throws must not admit the call.
      return problem(
        500,
        'MIDDLEWARE_DECIDE_FAILED',
        `decision failed: ${error instanceof Error ? error.message : String(error)}`,
      );
    } finally {
      input.passport = undefined;
      request.headers = undefined;
      this.#canonical = undefined;
    }

    // 4. Record, off the hot path: one object, no I/O.
    const log = this.#log;
    if (log !== undefined) {
      const entry: DecisionLogEntry = {
        time,
        source: source.service ?? source.spiffeId ?? 'anonymous',
        destination: this.service,
        method: canonical.method,
        path: route ?? canonical.path,
        routed: route !== undefined,
        effect: decision.effect,
        enforced: decision.enforced,
        rule: decision.rule,
        revision,
        subject: passport?.sub,
        kid: passport?.kid,
      };
      log.record(entry);
    }

    if (!decision.allowed) {
      const rule = ruleName(decision);
      return problem(403, 'MIDDLEWARE_DENIED', decision.reason, {
        rule,
        detail: `${source.service ?? source.spiffeId ?? 'anonymous'} → ${this.service}: denied by ${rule}: ${decision.reason}`,
        decision,
      });
    }
    return {
      request: canonical,
      source,
      identity,
      passport,
      decision,
      dryRunDenied: decision.effect === 'deny',
    };
  }

  /** The connection's verified SPIFFE ID, or '' (a faulty `peerIdentity` counts as none). */
  #verifiedPeer(socket: Socket): string {
    try {
      return this.#peerIdentity(socket) ?? '';
    } catch {
      return '';
    }
  }

  /** The caller for a verified SPIFFE ID: its service name from the policy, or by convention. */
  #sourceOf(spiffeId: string): DecisionSource {
    let source = this.#sources.get(spiffeId);
    if (source !== undefined) return source;
    const decider = this.#decider;
    let service: string | undefined;
    try {
      service =
        decider.serviceForSpiffeId !== undefined
          ? decider.serviceForSpiffeId(spiffeId)
          : decider.serviceBySpiffeId?.(spiffeId)?.name;
    } catch {
      service = undefined;
    }
    if (
      service === undefined &&
      (this.#trustDomain === undefined || trustDomainOf(spiffeId) === this.#trustDomain)
    ) {
      service = serviceByConvention(spiffeId);
    }
    source = Object.freeze(service === undefined ? { spiffeId } : { service, spiffeId });
    this.#remember(spiffeId, source);
    return source;
  }

  #devSource(claimed: string): DecisionSource | null {
    // Known callers first: a map lookup, no validation on the hot path.
    if (claimed === this.#lastClaimed) return this.#lastDevSource!;
    const known = this.#sources.get(claimed);
    if (known !== undefined) {
      this.#lastClaimed = claimed;
      this.#lastDevSource = known;
      return known;
    }
    if (claimed.startsWith('spiffe://'))
      return isSpiffeId(claimed) ? this.#sourceOf(claimed) : null;
    // A claimed name is a service reference: `orders` or `shop/orders` (`default/x` is `x`).
    const service = canonicalServiceKey(claimed);
    if (service === undefined) return null;
    const source = Object.freeze({ service });
    this.#remember(claimed, source);
    return source;
  }

  #forget(): void {
    this.#sources.clear();
    this.#lastClaimed = undefined;
    this.#lastDevSource = undefined;
  }

  #remember(key: string, source: DecisionSource): void {
    if (this.#sources.size >= MAX_SOURCES) this.#forget();
    this.#sources.set(key, source);
  }
}

/** A rejection with its RFC 9457 problem body, from the builder the control plane uses too. */
export function problem(
  status: Rejection['status'],
  code: string,
  reason: string,
  options: { detail?: string; rule?: string; decision?: Decision } = {},
): Rejection {
  const body: EnforcementProblemV1 = {
    ...problemBody({ status, code, detail: options.detail ?? reason }),
    ...(options.rule === undefined ? {} : { rule: options.rule }),
    reason,
  };
  return new Rejection(status, body, options.decision);
}

/** The JSON text and content type of a rejection, for the HTTP flavours. */
export function problemResponse(rejection: Rejection): { body: string; contentType: string } {
  return { body: JSON.stringify(rejection.problem), contentType: PROBLEM_MEDIA_TYPE };
}
