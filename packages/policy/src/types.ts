/**
 * The policy model: the documents authors write, the input a decision takes, and the decision it
 * returns. These types are the contract between the policy engine and everything that embeds it
 * (control plane, SDK, CLI); change them only with all of those in mind.
 */

import type { GatewayDocument, RouteDocument } from './gateway-types.ts';
import type { SecretDocument } from './secret-types.ts';

/** The API group and version every Ward document carries in `apiVersion`. */
export const API_VERSION = 'ward.dev/v1';

/** Where something is in a source file. Lines and columns are 1-based. */
export interface SourcePosition {
  file: string;
  line: number;
  col: number;
}

/** One problem found in a document; the engine reports all of them, sorted by position. */
export interface Diagnostic extends SourcePosition {
  /** Namespaced code, e.g. `POLICY_SCHEMA_INVALID`, `POLICY_CEL_TYPE`, `LINT_SHADOWED_RULE`. */
  code: string;
  severity: 'error' | 'warning';
  /** JSON-pointer-like path of the field at fault, e.g. `/spec/rules/2/when`. */
  path: string;
  message: string;
}

export interface Metadata {
  name: string;
  /**
   * Where the document lives (default `default`). Its key is `name` in the default namespace and
   * `namespace/name` elsewhere; service names inside it are relative to it (docs/policy-language.md,
   * "Namespaces").
   */
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** The stored revision a copy was read at; an expectation for the control plane, not stored. */
  revision?: number;
}

export type DependencyKind = 'startup' | 'runtime';

export interface ServiceDependency {
  service: string;
  kind: DependencyKind;
  description?: string;
}

/** `kind: Service` — a workload Ward knows about. */
export interface ServiceDocument {
  apiVersion: typeof API_VERSION;
  kind: 'Service';
  metadata: Metadata;
  spec: {
    /** Defaults to `spiffe://<trust-domain>/ns/<namespace>/sa/<name>`. */
    spiffeId?: string;
    owner?: string;
    dependencies?: ServiceDependency[];
    /** This service's part in passport trust (docs/passport.md, key distribution). */
    passport?: ServicePassport;
  };
}

/** `spec.passport` of a Service. */
export interface ServicePassport {
  /** Trust zone whose passport keys the service receives. Default `default`. */
  zone?: string;
  /** The service mints passports (the edge): its bundle carries the zone's signing key. */
  mint?: boolean;
  /**
   * The service verifies passports even though no rule on it reads `passport` (its own code
   * reads the claims). Without this or `mint`, only rules that read `passport` bring keys.
   */
  verify?: boolean;
  /** Largest `exp - iat` the service accepts, seconds (1 to 86400). Default 3600. */
  maxLifetimeSec?: number;
}

export type Action = 'allow' | 'deny';
export type Mode = 'enforce' | 'dry-run';

export interface StringMatch {
  exact?: string;
  prefix?: string;
  /** `*` matches within one path segment, `**` across segments. */
  glob?: string;
}

export interface HeaderMatch extends StringMatch {
  /** Header name; compared case-insensitively (HTTP header names are). */
  name: string;
  /** True: the header must be present (any value). False: it must be absent. */
  present?: boolean;
  /** An RE2 pattern the whole value must match (re2js: linear time). */
  regex?: string;
  /**
   * True: `exact`, `prefix`, `glob` or `regex` compare the value case-insensitively (both sides
   * lower-cased; `(?i)` for a regex). Default false: values compare case-sensitively.
   */
  ignoreCase?: boolean;
}

/**
 * A query parameter matcher: `name` (case-sensitive, after decoding) and exactly one of `exact`,
 * `prefix`, `glob`, `regex` or `present`, as for headers. For a repeated name, an allow rule needs every
 * value to match and a deny rule any one (docs/policy-language.md, "Query parameters").
 */
export interface QueryMatch extends StringMatch {
  name: string;
  /** True: the parameter must be present (any value, even empty). False: it must be absent. */
  present?: boolean;
  /** An RE2 pattern the whole value must match (re2js: linear time). */
  regex?: string;
  /** True: values compare case-insensitively. Default false. */
  ignoreCase?: boolean;
}

export interface HttpPermission {
  methods?: string[];
  paths?: StringMatch[];
  headers?: HeaderMatch[];
  /** Query parameters of the canonical request; all must hold. */
  query?: QueryMatch[];
}

export interface GrpcPermission {
  /** Fully-qualified gRPC service, e.g. `shop.orders.v1.Orders`; `*` for any. */
  service: string;
  /** Method names; omitted means every method. */
  methods?: string[];
}

export interface Permission {
  http?: HttpPermission;
  grpc?: GrpcPermission;
}

export interface IntentionRule {
  /**
   * Callers: service names (relative to the intention's namespace, or `namespace/name`),
   * `namespace/*`, SPIFFE IDs, glob patterns over either, or `*` (any caller).
   */
  sources: string[];
  action: Action;
  /** L7 permissions; any one matching permits the rule to match. Omitted means any request. */
  permissions?: Permission[];
  /** CEL condition over `source`, `request`, `passport`, `time` and `env`. */
  when?: string;
  description?: string;
}

/** `kind: Intention` — who may call a destination service, and how. */
export interface IntentionDocument {
  apiVersion: typeof API_VERSION;
  kind: 'Intention';
  metadata: Metadata;
  spec: {
    /** The service called, in the intention's own namespace (`name`, or `namespace/name` naming it). */
    destination: string;
    mode?: Mode;
    rules: IntentionRule[];
  };
}

/** The JSON Schema subset an attribute or label is declared with. */
export type AttributeScalarType = 'string' | 'number' | 'integer' | 'boolean';

export interface AttributeType {
  type: AttributeScalarType | 'array';
  /** Allowed values (of the scalar type). */
  enum?: (string | number | boolean)[];
  /** The element type; required with `type: array`, refused otherwise. */
  items?: { type: AttributeScalarType; enum?: (string | number | boolean)[]; description?: string };
  description?: string;
}

/** A JSON Schema of an object: the declared properties (and nothing else) may be read. */
export interface ObjectSchema {
  type?: 'object';
  properties: Record<string, AttributeType>;
  description?: string;
}

/**
 * `kind: AttributeSchema` — the passport attributes (`passport.attrs`) and Service labels
 * (`source.labels`) that conditions may read, with their types. With one present, conditions are
 * type-checked against it when the policy is compiled.
 */
export interface AttributeSchemaDocument {
  apiVersion: typeof API_VERSION;
  kind: 'AttributeSchema';
  metadata: Metadata;
  spec: {
    /** Passport zone whose passports carry `attributes`; omitted means every zone. */
    zone?: string;
    /** The passport's attributes. */
    attributes?: ObjectSchema;
    /** Service labels rules may read (zone-independent). */
    labels?: ObjectSchema;
  };
}

export type {
  GatewayApiKey,
  GatewayCors,
  GatewayDocument,
  GatewayOidcIssuer,
  RouteAuth,
  RouteDocument,
  RouteRateLimit,
} from './gateway-types.ts';
export type {
  SecretAlphabet,
  SecretDocument,
  SecretKeyAlgorithm,
  SecretSettings,
  SecretType,
} from './secret-types.ts';

export type PolicyDocument =
  | ServiceDocument
  | IntentionDocument
  | AttributeSchemaDocument
  | GatewayDocument
  | RouteDocument
  | SecretDocument;

/** Every kind a policy file may hold: policy documents and test documents. */
export type AnyDocument = PolicyDocument | PolicyTestDocument;

/** A parsed document together with the file it came from, for diagnostics. */
export interface SourcedDocument<D extends PolicyDocument = PolicyDocument> {
  document: D;
  file: string;
  /** Index of the document within a multi-document YAML file. */
  index: number;
  /**
   * Where each field starts in `file`, keyed by its JSON pointer (`/spec/rules/2/when`); filled
   * by `parseDocuments`. Without it (documents from a bundle), diagnostics fall back to 1:1.
   */
  positions?: ReadonlyMap<string, { line: number; col: number }>;
  /**
   * The source text of each string scalar at a `when` pointer, with where it starts, so that a
   * diagnostic inside a condition points at its line and column in the file (see position.ts).
   */
  scalars?: ReadonlyMap<string, ScalarSource>;
}

/** A scalar's text as written in the file (quotes, escapes, folding included) and its start. */
export interface ScalarSource {
  raw: string;
  line: number;
  col: number;
}

/** `kind: PolicyTest` — decision test cases, run by `runPolicyTests` and `ward policy test`. */
export interface PolicyTestDocument {
  apiVersion: typeof API_VERSION;
  kind: 'PolicyTest';
  metadata: Metadata;
  spec: { cases: PolicyTestCase[] };
}

export interface PolicyTestCase {
  name: string;
  input: DecisionInput;
  expect: {
    effect: Action;
    /** `policy#index` of the deciding rule, or `default` for the default deny. */
    rule?: string;
    allowed?: boolean;
    enforced?: boolean;
  };
}

/** A test document with the file it came from. */
export interface SourcedPolicyTest {
  document: PolicyTestDocument;
  file: string;
  index: number;
  positions?: ReadonlyMap<string, { line: number; col: number }>;
}

// ---------------------------------------------------------------------------------------------
// Decisions

export interface DecisionSource {
  /** Caller's service name, when known. */
  service?: string;
  /** Caller's SPIFFE ID, from a verified peer certificate. */
  spiffeId?: string;
  namespace?: string;
  labels?: Record<string, string>;
}

export interface DecisionRequest {
  /** HTTP method, upper case. */
  method?: string;
  /** Path without query string. */
  path?: string;
  /**
   * The raw query, without its `?` and fragment and not decoded (`CanonicalRequest.query`);
   * `query` permissions read it (request/query.ts). Absent: the request had no query.
   */
  query?: string;
  /** Lower-case header names. */
  headers?: Record<string, string>;
  grpc?: { service: string; method: string };
}

/** The verified passport claims visible to CEL conditions as `passport`. */
export interface PassportClaims {
  sub: string;
  attrs: Record<string, unknown>;
  iat: number;
  exp: number;
  iss: string;
  kid: string;
  /**
   * Who the passport is for: service names and `zone:<zone>` entries. Verifiers check it before a
   * policy sees the claims (empty or absent: minted without an audience).
   */
  aud?: readonly string[];
}

export interface DecisionInput {
  /** Name of the destination service being called. */
  destination: string;
  source: DecisionSource;
  request?: DecisionRequest;
  passport?: PassportClaims;
  /** Epoch milliseconds; defaults to `Date.now()`. */
  time?: number;
}

/** The rule that decided, or `null` for the default deny. */
export interface RuleRef {
  /** `metadata.name` of the intention. */
  policy: string;
  /** Index into `spec.rules`. */
  index: number;
  action: Action;
  mode: Mode;
}

export interface Decision {
  /** What the complete policy (enforced and dry-run rules) says. */
  effect: Action;
  /**
   * True when `effect` is applied now. False when dry-run rules decided it: the decision is only
   * reported, and `allowed` holds what the enforced rules alone say.
   */
  enforced: boolean;
  /** Whether the call proceeds now. Dry-run rules never change this. */
  allowed: boolean;
  rule: RuleRef | null;
  /** Human reason, e.g. `denied by default: no rule of orders allows checkout`. */
  reason: string;
}

export interface RuleEvaluation {
  rule: RuleRef;
  matched: boolean;
  /** Why the rule did or did not match (source, permission, condition, CEL error). */
  detail: string;
}

export interface Explanation {
  decision: Decision;
  /** Every rule that applies to the destination, in evaluation order. */
  considered: RuleEvaluation[];
}

// ---------------------------------------------------------------------------------------------
// The compiled policy set

/** A Service document with its defaults applied. */
export interface ServiceInfo {
  /** The service's key: `name` in the default namespace, `namespace/name` elsewhere. */
  name: string;
  namespace: string;
  spiffeId: string;
  owner?: string;
  labels: Readonly<Record<string, string>>;
  dependencies: readonly ServiceDependency[];
}

/** One rule as compiled, for listings (`ward policy`, UI, bundle builders). */
export interface RuleInfo {
  ref: RuleRef;
  destination: string;
  sources: readonly string[];
  permissions?: readonly Permission[];
  when?: string;
  description?: string;
  /** Where the rule was written, when known. */
  file?: string;
  line?: number;
}

export interface CompileOptions {
  /** Trust domain for default SPIFFE IDs; `ward.local` when omitted. */
  trustDomain?: string;
  /** Static values visible to CEL conditions as `env` (map<string, string>). */
  env?: Record<string, string>;
}

/** A compiled, immutable set of policies; `decide` is the hot path. */
export interface PolicySet {
  readonly trustDomain: string;
  /** Service documents by name, defaults applied. */
  readonly services: ReadonlyMap<string, ServiceInfo>;
  /** Synchronous, allocation-light decision. */
  decide(input: DecisionInput): Decision;
  /** The decision together with every rule considered and why it matched or not. */
  explain(input: DecisionInput): Explanation;
  /** Names of every destination some intention is attached to, sorted. */
  destinations(): string[];
  /** Every rule, in evaluation order; only those of `destination` when given. */
  rules(destination?: string): RuleInfo[];
  /** The service whose SPIFFE ID this is, if a Service document declares it. */
  serviceBySpiffeId(spiffeId: string): ServiceInfo | undefined;
}
