/**
 * The client's Prometheus metrics. Label values come only from the configuration (destination
 * keys) and fixed lists (outcomes), never from requests, so cardinality is bounded. Several
 * clients may share one registry: a metric already registered there is reused.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** How a call ended, the `outcome` label. */
export type CallOutcome =
  | 'success' // an answer below 500
  | 'error_status' // an answer of 500 or more
  | 'denied' // the egress guard refused it
  | 'circuit_open'
  | 'bulkhead_full'
  | 'timeout'
  | 'unavailable' // connection or TLS failures
  | 'aborted'; // the caller's signal

/** Breaker states as the gauge reports them. */
export const BREAKER_STATE = { closed: 0, half_open: 1, open: 2 } as const;

/** The metrics of one destination: children bound to its label, so a call hashes no labels. */
export interface DestinationMetrics {
  call(outcome: CallOutcome): void;
  attempt(seconds: number): void;
  retry(): void;
  budgetExhausted(): void;
  ejection(): void;
  breaker(state: keyof typeof BREAKER_STATE): void;
}

function metric<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

export function clientMetrics(registry: Registry): (destination: string) => DestinationMetrics {
  const registers = [registry];
  const calls = metric(
    registry,
    'ward_client_requests_total',
    () =>
      new Counter({
        name: 'ward_client_requests_total',
        help: 'Calls made with createClient, by destination and outcome.',
        labelNames: ['destination', 'outcome'],
        registers,
      }),
  );
  const attempts = metric(
    registry,
    'ward_client_attempt_duration_seconds',
    () =>
      new Histogram({
        name: 'ward_client_attempt_duration_seconds',
        help: 'Time from sending an attempt to its response headers (or its failure).',
        labelNames: ['destination'],
        buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
        registers,
      }),
  );
  const retries = metric(
    registry,
    'ward_client_retries_total',
    () =>
      new Counter({
        name: 'ward_client_retries_total',
        help: 'Attempts after the first.',
        labelNames: ['destination'],
        registers,
      }),
  );
  const budget = metric(
    registry,
    'ward_client_retry_budget_exhausted_total',
    () =>
      new Counter({
        name: 'ward_client_retry_budget_exhausted_total',
        help: 'Retries not made because the retry budget was spent.',
        labelNames: ['destination'],
        registers,
      }),
  );
  const ejections = metric(
    registry,
    'ward_client_endpoint_ejections_total',
    () =>
      new Counter({
        name: 'ward_client_endpoint_ejections_total',
        help: 'Endpoints taken out of load balancing after consecutive connection failures.',
        labelNames: ['destination'],
        registers,
      }),
  );
  const breaker = metric(
    registry,
    'ward_client_breaker_state',
    () =>
      new Gauge({
        name: 'ward_client_breaker_state',
        help: 'Circuit breaker state per destination: 0 closed, 1 half-open, 2 open.',
        labelNames: ['destination'],
        registers,
      }),
  );
  return (destination) => {
    const by = { destination };
    const outcomes = new Map<CallOutcome, ReturnType<typeof calls.labels>>();
    const histogram = attempts.labels(by);
    const retry = retries.labels(by);
    const exhausted = budget.labels(by);
    const ejected = ejections.labels(by);
    const state = breaker.labels(by);
    state.set(BREAKER_STATE.closed);
    return {
      call(outcome) {
        let child = outcomes.get(outcome);
        if (child === undefined) {
          child = calls.labels({ destination, outcome });
          outcomes.set(outcome, child);
        }
        child.inc();
      },
      attempt: (seconds) => histogram.observe(seconds),
      retry: () => retry.inc(),
      budgetExhausted: () => exhausted.inc(),
      ejection: () => ejected.inc(),
      breaker: (s) => state.set(BREAKER_STATE[s]),
    };
  };
}
