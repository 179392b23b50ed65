export { celEnvironment } from './cel.ts';
export { compile, type LoadResult, loadPolicy, tryCompile } from './compile.ts';
export {
  DIAGNOSTIC_CODES,
  type DiagnosticCode,
  formatDiagnostic,
  PolicyCompileError,
  PolicyError,
  type PolicyErrorCode,
  type RequestErrorCode,
  RequestTargetError,
  sortDiagnostics,
} from './errors.ts';
export {
  checkGateway,
  checkPassportTtl,
  checkRoute,
  cidrProblem,
  DEFAULT_GATEWAY_ALGORITHMS,
  GATEWAY_ALGORITHMS,
  gatewayKey,
  type ReportProblem,
  routeGatewayKey,
  routeUpstreamKey,
  urlProblem,
} from './gateway-check.ts';
export { compileGlob, type Glob, globProblem } from './glob.ts';
export { HTTP_METHODS, methodProblem } from './http-methods.ts';
export { isReservedLabel, RESERVED_LABEL_PREFIX, reservedLabels } from './labels.ts';
export { lintPolicy } from './lint.ts';
export { type ResolvedSource, resolveSource } from './matchers.ts';
export {
  canonicalInputNames,
  canonicalServiceKey,
  DEFAULT_NAMESPACE,
  documentKey,
  documentNamespace,
  isNamespace,
  isServiceKey,
  NAMESPACE_PATTERN,
  namespaceOfKey,
  parseServiceRef,
  SERVICE_REF_PATTERN,
  type ServiceRef,
  serviceKey,
  serviceRefFrom,
  splitServiceKey,
} from './namespace.ts';
export { type ParseResult, parseDocuments } from './parse.ts';
export {
  conditionReadsPassport,
  DEFAULT_PASSPORT_MAX_LIFETIME_SEC,
  DEFAULT_PASSPORT_ZONE,
  intentionsReadPassport,
  type PassportUse,
  passportUse,
} from './passport-use.ts';
export {
  DEFAULT_DISTINCT_LIMIT,
  inferPathTemplates,
  type PathTemplate,
  segmentWildcard,
} from './propose/path-templates.ts';
export {
  type ObservedEdge,
  type ObservedSample,
  PROPOSED_ANNOTATION,
  type Proposal,
  type ProposalEvidence,
  type ProposedRule,
  type ProposeInput,
  type ProposeResult,
  proposeIntentions,
  type SkippedEdge,
} from './propose/propose.ts';
export { proposalsYaml } from './propose/render.ts';
export {
  type CanonicalRequest,
  canonicalMethod,
  canonicalRequest,
  isCanonicalPath,
  RequestProblem,
  type RouterRules,
  tryCanonicalRequest,
} from './request/canonical.ts';
export {
  canonicalDecisionInput,
  canonicalDecisionRequest,
  refusedDecision,
  tryCanonicalDecisionRequest,
} from './request/decision.ts';
export {
  MAX_QUERY_LENGTH,
  MAX_QUERY_PARAMETERS,
  parseQuery,
  type QueryParameters,
} from './request/query.ts';
export {
  type CompiledRequestSchema,
  compileRequestSchema,
  MAX_REQUEST_SCHEMA_BYTES,
} from './request-schema.ts';
export { policySchema } from './schema.ts';
export {
  checkSecret,
  durationMs,
  grantProblem,
  SECRET_DEFAULTS,
  secretDocumentKey,
  secretOwnerKey,
  secretReaderKeys,
  secretSettings,
} from './secret-check.ts';
export { SECRET_DURATION_PATTERN } from './secret-schema.ts';
export { defaultSpiffeId, spiffeIdProblem } from './spiffe.ts';
export {
  checkPolicyTests,
  type PolicyTestReport,
  type PolicyTestResult,
  ruleId,
  runPolicyTests,
} from './testing.ts';
export {
  type Action,
  type AnyDocument,
  API_VERSION,
  type AttributeSchemaDocument,
  type AttributeType,
  type CompileOptions,
  type Decision,
  type DecisionInput,
  type DecisionRequest,
  type DecisionSource,
  type DependencyKind,
  type Diagnostic,
  type Explanation,
  type GatewayApiKey,
  type GatewayCors,
  type GatewayDocument,
  type GatewayOidcIssuer,
  type GrpcPermission,
  type HeaderMatch,
  type HttpPermission,
  type IntentionDocument,
  type IntentionRule,
  type Metadata,
  type Mode,
  type ObjectSchema,
  type PassportClaims,
  type Permission,
  type PolicyDocument,
  type PolicySet,
  type PolicyTestCase,
  type PolicyTestDocument,
  type QueryMatch,
  type RouteAuth,
  type RouteDocument,
  type RouteRateLimit,
  type RuleEvaluation,
  type RuleInfo,
  type RuleRef,
  type SecretAlphabet,
  type SecretDocument,
  type SecretKeyAlgorithm,
  type SecretSettings,
  type SecretType,
  type ServiceDependency,
  type ServiceDocument,
  type ServiceInfo,
  type ServicePassport,
  type SourcedDocument,
  type SourcedPolicyTest,
  type SourcePosition,
  type StringMatch,
} from './types.ts';
export { decisionInputProblems } from './validate.ts';
