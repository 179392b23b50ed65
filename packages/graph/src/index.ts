/**
 * @ward/graph — the dependency graph engine: readers (traces, manifests, catalogs, decision
 * logs), analyses (cycles, boot order, cycle breaking, blast radius, declared vs observed,
 * layering) and writers (JSON, text, DOT, Mermaid, SARIF, NetworkPolicy, Istio). Pure: callers
 * pass text and bytes in and get data back.
 */

export {
  type AnalysisReport,
  type AnalyzeOptions,
  analyze,
  type CycleReport,
} from './analysis/analyze.ts';
export {
  type BlastRadius,
  blastRadius,
  type CriticalService,
  mostCritical,
} from './analysis/blast-radius.ts';
export { type BlockedService, type BootOrder, bootOrder } from './analysis/boot-order.ts';
export {
  type BreakSuggestion,
  breakCycles,
  type CutSuggestion,
  cutCost,
} from './analysis/break-cycles.ts';
export { type CheckResult, checkAgainstBaseline, parseBaseline } from './analysis/check.ts';
export { type CompiledGraph, compile, reverse, subgraph } from './analysis/compiled.ts';
export {
  type CycleOptions,
  type CyclesResult,
  elementaryCycles,
  shortestPath,
} from './analysis/cycles.ts';
export {
  type DeclaredVsObserved,
  declaredVsObserved,
  type EdgeRef,
} from './analysis/declared-observed.ts';
export {
  checkLayering,
  type LayeringRules,
  type LayeringViolation,
  parseLayeringRules,
  type Selector,
} from './analysis/layering.ts';
export { checkRepairTools, type RepairToolFinding, TOOL_ROLES } from './analysis/repair-tools.ts';
export { condensation, type SccResult, stronglyConnected } from './analysis/scc.ts';
export { GraphError, type GraphErrorCode, type GraphErrorLocation } from './errors.ts';
export { bytesToHex, normalizeId } from './ids.ts';
export {
  cmp,
  type DependencyGraph,
  type Edge,
  type EdgeKind,
  type EdgeMetrics,
  type EntryPoint,
  GraphBuilder,
  type GraphDiagnostic,
  type InputType,
  isStoreWorkload,
  type NodeType,
  type PodPort,
  type Provenance,
  type ServiceNode,
  type ServicePatch,
  type SourceRef,
  type StoreType,
} from './model.ts';
export { namespaceOfNode, namespaceSubgraph } from './namespaces.ts';
export { hostName, type PeerRef, peerOf } from './peer.ts';
export { readBackstage } from './readers/backstage.ts';
export { readCompose } from './readers/compose.ts';
export {
  type DecisionLogRecord,
  readDecisionBatch,
  readDecisionRecord,
  validateDecisionRecord,
} from './readers/decision-log.ts';
export { detectInputType, INPUT_TYPE_ALIASES, parseInputArg } from './readers/detect.ts';
export { parseGraphJson } from './readers/graph-json.ts';
export { findHostRefs, type HostRef } from './readers/hostnames.ts';
export {
  GraphIngest,
  type IngestOptions,
  type IngestStats,
  type InputSink,
  type InputSummary,
} from './readers/ingest.ts';
export { readJaeger, readJaegerDependencies } from './readers/jaeger.ts';
export { classifyWorkload, storeTypeOfImage } from './readers/kinds.ts';
export {
  type KubernetesReadOptions,
  KubernetesSet,
  readKubernetes,
} from './readers/kubernetes.ts';
export { LineSplitter } from './readers/lines.ts';
export { readOtlpJson } from './readers/otlp-json.ts';
export { readOtlpProtobuf } from './readers/otlp-proto.ts';
export { readWardServices, type WardReadOptions } from './readers/ward.ts';
export { readZipkin } from './readers/zipkin.ts';
export { type Syntax, syntaxOf } from './scan/lexer.ts';
export { isBuildMarker, ServiceNames } from './scan/names.ts';
export {
  CodeScanner,
  type Confidence,
  type Evidence,
  type Finding,
  type ScanOptions,
  type ScanResult,
  scanText,
} from './scan/scanner.ts';
export { LatencySketch, type LatencySketchJSON, SKETCH_RELATIVE_ACCURACY } from './sketch.ts';
export {
  SPAN_KIND,
  type SpanInput,
  type SpanSink,
  spanKey,
  TraceAccumulator,
  type TraceAccumulatorOptions,
  type TraceStats,
} from './trace-accumulator.ts';
export { toDot, toMermaid } from './writers/diagram.ts';
export { GRAPH_REPORT_VERSION, type GraphReport, toJsonReport } from './writers/json.ts';
export {
  type ExportOptions,
  type ExportResult,
  istioPrincipal,
  resourceName,
  toIstioPolicies,
  toNetworkPolicies,
} from './writers/policy-export.ts';
export {
  type RuleExportResult,
  type Unexpressed,
  unexpressedLine,
} from './writers/rule-context.ts';
export { toIstioPoliciesFromRules } from './writers/rule-istio.ts';
export { toNetworkPoliciesFromRules } from './writers/rule-netpol.ts';
export { checkToSarif, toSarif } from './writers/sarif.ts';
export { diagnosticLines, toTextReport } from './writers/text.ts';
